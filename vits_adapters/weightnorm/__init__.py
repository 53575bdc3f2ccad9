"""Weight norm without YAML: tensor forms (plain, legacy, parametrized), modules, and load_state_dict."""
