"""Front ends: the terminal REPL and the Telegram bot."""
