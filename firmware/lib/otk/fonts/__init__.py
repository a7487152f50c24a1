"""Bitmap fonts built by firmware/tools/build_fonts.py; read them with otk.text."""
