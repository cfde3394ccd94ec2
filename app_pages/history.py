"""history (coming)."""
import streamlit as st

st.title("history")
