"""Text signals: tags, titles, comments, prompts and messages, robust to obfuscation, in several languages.

Pure functions from a text and its field to explained :class:`bastion.model.Signal` values and an
item-level score. See ``docs/text.md`` for the lexicon format, platform lists and the scoring config.
"""

# Before any compiled module of the package is imported: run the sources if they changed since the build.
from bastion.text import _compiled

_compiled.install()

from bastion.text.analyze import FIELDS, TextResult, analyze, analyze_item  # noqa: E402
from bastion.text.lexicon import Lexicon, LexiconEntry, default_lexicon, load_lexicon  # noqa: E402
from bastion.text.normalize import fold, normalize  # noqa: E402
from bastion.text.score import ScoringConfig, default_scoring_config, load_scoring_config  # noqa: E402

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
