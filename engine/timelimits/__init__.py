"""timelimits"""
