"""Entry point: `python launch.py loss=mo_ei physics=multicoil` (add -m to sweep)."""

import hydra
from omegaconf import DictConfig

from ssibench.run import run


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
