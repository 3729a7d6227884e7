"""Front door: `python run.py env=alfworld algo=gigpo layer=mid` (Hydra composes configs/)."""

import sys

import hydra
from omegaconf import DictConfig

import layerverl
from layerverl.config import ConfigError, check_overrides, normalize_argv


@hydra.main(config_path="configs", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    try:
        layerverl.run(cfg)
    except ConfigError as error:  # e.g. resuming a run directory that holds another config
        sys.exit(f"config error: {error}")


if __name__ == "__main__":
    sys.argv[1:] = normalize_argv(sys.argv[1:])
    try:  # a bad key or value stops here, in one line, before any work
        check_overrides([arg for arg in sys.argv[1:] if "=" in arg])
    except ConfigError as error:
        sys.exit(f"config error: {error}")
    main()
