"""draw (coming)."""
import streamlit as st

st.title("draw")
