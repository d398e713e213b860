"""Text signals: tags, titles, comments, prompts and messages, robust to obfuscation, in several languages.

Pure functions from a text and its field to explained :class:`bastion.model.Signal` values and an
item-level score. See ``docs/text.md`` for the lexicon format, platform lists and the scoring config.
"""

from bastion.text.analyze import FIELDS, TextResult, analyze, analyze_item
from bastion.text.lexicon import Lexicon, LexiconEntry, default_lexicon, load_lexicon
from bastion.text.normalize import fold, normalize
from bastion.text.score import ScoringConfig, default_scoring_config, load_scoring_config

__all__ = [
    "FIELDS",
    "Lexicon",
    "LexiconEntry",
    "ScoringConfig",
    "TextResult",
    "analyze",
    "analyze_item",
    "default_lexicon",
    "default_scoring_config",
    "fold",
    "load_lexicon",
    "load_scoring_config",
    "normalize",
]
