"""What a study file declares: its arms, seeds and how its table reads.

A study file is a Python module with upper-case constants (see experiments/README.md);
``load`` reads it into a ``Study`` and refuses fields it does not know, so a typo in a study
file is an error, not a silently ignored setting.
"""

import dataclasses
import importlib.util
import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass(frozen=True)
class Arm:
  """One row of a study's table: a config (``path[:variant]``) with field overrides."""
  name: str
  config: str
  overrides: dict = dataclasses.field(default_factory=dict)
  paper: str = ""  # The paper's number or claim for this arm, for the table.
  # The arm this one is compared with (default: the study's first); its own name makes it the
  # head of a second group, compared with none.
  baseline: str = ""
  # Arms of one group are candidates of one sweep (e.g. learning rates of one network): the
  # study's SELECT column chooses one arm per group, and the chosen arms are compared.
  group: str = ""
  # An earlier arm of the study whose run of the same seed starts this one: its trained
  # weights, as config.init_from (config.init_from_layers in the overrides picks the layers),
  # e.g. VGG's deeper nets started from a trained A.
  init_from: str = ""

  @property
  def slug(self) -> str:
    return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")


@dataclasses.dataclass(frozen=True)
class Study:
  """A study file, read: the fields are its constants in lower case."""
  name: str  # The file's name without .py: the records' folder and the table's name.
  path: str  # The file, relative to the repository where it lies inside it.
  title: str
  claim: str  # The paper's claim, quoted at the top of the table.
  scale: str  # The scale the study runs at (dataset, widths, epochs).
  seeds: tuple
  arms: tuple
  setup: str = ""  # The paper's setup, ours, and every difference: the table's first paragraph.
  columns: tuple = ("top1", "top5")  # Keys of experiments.report.COLUMNS.
  curves: tuple = ()  # Extra logged metrics to plot, e.g. "train/grad_norm/conv1".
  notes: str = ""  # Conditions of the runs, printed under the table.
  # A column (lower is better) choosing one arm per group; with SELECT set, the table also
  # compares the chosen arms of the groups per seed (RATIO: the ratio of that column, first
  # group over second).
  select: str = ""
  ratio: bool = False
  # The column (a key of experiments.report.COLUMNS) whose arm differences the Δ column gives:
  # the one the paper's claim is about (train_error for a claim about fitting).
  delta: str = "top1"

  def arm(self, name: str) -> Arm:
    return next(a for a in self.arms if a.name == name)


_REQUIRED = ("TITLE", "CLAIM", "SCALE", "SEEDS", "ARMS")
# The runner's own modules in experiments/; every other .py file there is a study.
RUNNER_MODULES = ("__init__.py", "study.py", "records.py", "report.py", "status.py", "run.py")


def study_files() -> list[str]:
  """Every study file in experiments/, relative to the repository, sorted."""
  folder = os.path.join(REPO, "experiments")
  return sorted(os.path.join("experiments", f) for f in os.listdir(folder)
                if f.endswith(".py") and f not in RUNNER_MODULES)


def load(path: str) -> Study:
  """Reads a study file; SystemExit naming the problem when it cannot be one."""
  full = path if os.path.isabs(path) else os.path.join(REPO, path)
  if not os.path.exists(full):
    raise SystemExit(f"No study file {path}.")
  name = os.path.splitext(os.path.basename(full))[0]
  module = load_module(full, "study_" + name)
  constants = {k: v for k, v in vars(module).items() if k.isupper() and not k.startswith("_")}
  missing = [k for k in _REQUIRED if k not in constants]
  fields = {f.name.upper() for f in dataclasses.fields(Study)} - {"NAME", "PATH"}
  unknown = sorted(set(constants) - fields)
  if missing or unknown:
    raise SystemExit(f"{path}: " + "; ".join(
        ([f"missing {', '.join(missing)}"] if missing else []) +
        ([f"unknown field(s) {', '.join(unknown)} (known: {', '.join(sorted(fields))})"]
         if unknown else [])) + ".")
  rel = os.path.relpath(full, REPO)
  study = Study(name=name, path=full if rel.startswith("..") else rel,
                **{k.lower(): (tuple(v) if isinstance(v, list) else v)
                   for k, v in constants.items()})
  _check(study, path)
  return study


def _check(study: Study, path: str) -> None:
  from experiments import report
  names = [a.name for a in study.arms]
  problems = []
  if len(set(names)) != len(names):
    problems.append("two arms share a name")
  if len({a.slug for a in study.arms}) != len(names):
    problems.append("two arms' names give the same record file name")
  unknown = [a.baseline for a in study.arms if a.baseline and a.baseline not in names]
  if unknown:
    problems.append(f"unknown baseline arm(s) {unknown}; arms are {names}")
  for i, arm in enumerate(study.arms):
    if arm.init_from and arm.init_from not in names[:i]:
      problems.append(f"arm {arm.name!r} starts from {arm.init_from!r}, which is not an arm "
                      "listed before it")
  for column in study.columns + ((study.select,) if study.select else ()) + (study.delta,):
    if not report.known_column(column):
      problems.append(f"unknown column {column!r}; known: {report.column_names()}")
  if study.select and len({a.group for a in study.arms}) < 2:
    problems.append("SELECT needs arms in at least two groups")
  if problems:
    raise SystemExit(f"{path}: " + "; ".join(problems) + ".")


def load_module(path: str, name: str):
  spec = importlib.util.spec_from_file_location(name, path)
  if spec is None:
    raise SystemExit(f"No such file: {path}")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module
