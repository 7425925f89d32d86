"""The playbook: card format and validation, Russian text analysis, embeddings, index, search."""
