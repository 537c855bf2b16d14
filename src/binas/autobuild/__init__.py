"""AutoBuild mode (Mills et al., CVPR 2024): a graph model over architectures trained with a ranking loss,
interpretable feature/unit scores, networks built directly from the top units, and reduced spaces."""

from binas.autobuild.build import AutoBuildError, BuildResult, build_architecture
from binas.autobuild.io import load_autobuild, save_autobuild
from binas.autobuild.predictor import AutoBuildPredictor

__all__ = ["AutoBuildError", "AutoBuildPredictor", "BuildResult", "build_architecture", "load_autobuild",
           "save_autobuild"]
