"""From visual elements to music elements: the rule reasoner here; the LLM teacher lives beside it later."""
