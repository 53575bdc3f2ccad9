"""Format specs (YAML) and what they drive: key rules, detection, conversion, strict loading, stored names."""
