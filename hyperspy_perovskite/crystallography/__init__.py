"""crystallography"""
