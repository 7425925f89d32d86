"""What crosses the machine's border: playbook bundles and CRM adapters (no Qt)."""
