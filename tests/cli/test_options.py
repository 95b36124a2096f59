"""CLI options generated from a config dataclass: names, defaults kept when not given, bounds from the metadata
checked by the dataclass itself."""
import argparse

import pytest

from core.errors import InvalidInput
from core.inference.generate import GenerationSettings
from workbench.commands.options import add_options, from_options


def _parse(*argv):
    parser = argparse.ArgumentParser()
    add_options(parser, GenerationSettings)
    return from_options(parser.parse_args(list(argv)), GenerationSettings)


def test_every_field_is_an_option_and_defaults_stay():
    assert _parse() == GenerationSettings()
    assert _parse("--max-new-tokens", "8", "--temperature", "0.7", "--top-p", "0.9", "--seed", "3", "--stop", "END",
                  "--stop", "###", "--batch-size", "4") == \
        GenerationSettings(max_new_tokens=8, temperature=0.7, top_p=0.9, seed=3, stop=("END", "###"), batch_size=4)


@pytest.mark.parametrize("argv,message", [(("--temperature", "3"), "between 0 and 2"),
                                          (("--max-new-tokens", "0"), "between 1 and 8192"),
                                          (("--seed", "-1"), "seed must be")])
def test_bounds_come_from_the_dataclass(argv, message):
    with pytest.raises(InvalidInput, match=message):
        _parse(*argv)


def test_help_names_the_bounds():
    parser = argparse.ArgumentParser()
    add_options(parser, GenerationSettings)
    text = " ".join(parser.format_help().split())
    assert "--max-new-tokens" in text and "at most 8192" in text and "at most 2.0" in text
