"""Entry point: `python launch.py loss=mo_ei physics=multicoil` (add -m to sweep)."""

import sys

import hydra
from omegaconf import DictConfig

from ssibench.config.context import RunContext
from ssibench.config.unknown_choice import UnknownChoiceHint
from ssibench.errors import InputError
from ssibench.run import run


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    context = RunContext.from_hydra(cfg)
    try:
        run(cfg, context)
    except InputError as error:
        if context.sweep:
            raise  # recorded in the job's results.json; the other jobs go on
        sys.exit(f"ssibench: error: {error}")  # one line, exit code 1, no traceback


if __name__ == "__main__":
    sys.stderr = UnknownChoiceHint(sys.stderr)
    main()
