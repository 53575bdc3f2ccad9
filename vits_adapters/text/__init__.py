"""Text front-ends: symbol tables, cleaners, and each ecosystem's tokenizer settings."""
