"""The fake's engine: catalog -> template -> tokenizer -> generator. No wire formats here."""
