"""Per-layout code that cannot be a YAML rule: config readers and writers, inert config fields, the writer."""
