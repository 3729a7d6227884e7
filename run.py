"""Front door: `python run.py env=alfworld algo=gigpo layer=mid` (Hydra composes configs/)."""

import hydra
from omegaconf import DictConfig

import layerverl


@hydra.main(config_path="configs", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    layerverl.run(cfg)


if __name__ == "__main__":
    main()
