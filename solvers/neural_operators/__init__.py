"""Neural operators: surrogates trained once on solved instances of a parametric family, then evaluated on new ones."""
