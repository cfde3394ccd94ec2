"""lessons (coming)."""
import streamlit as st

st.title("lessons")
