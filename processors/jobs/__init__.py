"""Timed work of the alert service: what no incoming event triggers (a silent device,
an hour that closed, an alert nobody acknowledged). Each job runs in one transaction
under its own advisory lock, so any number of alert services can run and each job
still runs once at a time.
"""
