"""The core library behind the tasks: it computes and returns data, and never prints."""
