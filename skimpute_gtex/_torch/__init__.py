"""Private torch core shared by the deep imputers: the only package importing torch."""
