"""The web layer (Flask): thin, translating HTTP and the command line to engine facade calls."""
