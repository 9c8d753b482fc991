"""casework"""
