"""torchvision's pretrained weights by name: ``torchvision:resnet50[.IMAGENET1K_V1]``.

The file is the one torchvision itself uses: the weights entry's file name (resnet50's
IMAGENET1K_V1 is resnet50-0676ba61.pth) in torch's hub cache, $TORCH_HOME/hub/checkpoints
(by default ~/.cache/torch/hub/checkpoints). When it is not there, torchvision downloads it
there, if the network allows. Without a weights name, torchvision's DEFAULT entry is used.
Needs torch and torchvision (the torch extra).
"""

import os
import socket
import urllib.parse

from jaxcnn.errors import UserError

PREFIX = "torchvision:"
# Seconds without an answer after which a download counts as failed (no network).
_DOWNLOAD_TIMEOUT = 60


def parse(spec: str) -> tuple[str, str | None]:
  """"torchvision:resnet50.IMAGENET1K_V1" (or without the prefix) -> ("resnet50",
  "IMAGENET1K_V1"); the weights name is None when not given."""
  arch, _, weights = spec.removeprefix(PREFIX).partition(".")
  return arch, weights or None


def _torchvision():
  try:
    import torch  # noqa: F401  (torchvision needs it; the message names both)
    import torchvision
  except ImportError as e:
    raise UserError("torchvision weights need torch and torchvision: install them with "
                    "make torch (pip install -e '.[torch]').") from e
  return torchvision


def weights_entry(arch: str, weights: str | None = None):
  """torchvision's weights enum member for ``arch`` (DEFAULT when ``weights`` is None)."""
  from jaxcnn.tools import convert
  convert.jaxcnn_model(arch)  # Only the architectures jaxcnn converts.
  models = _torchvision().models
  try:
    enum = models.get_model_weights(arch)
  except (ValueError, KeyError) as e:
    raise UserError(f"torchvision has no weights for {arch!r}.") from e
  names = [w.name for w in enum]
  try:
    return enum[weights or "DEFAULT"]
  except KeyError as e:
    raise UserError(f"torchvision has no {arch} weights named {weights!r}; it has "
                    f"{', '.join(names)} (and DEFAULT, {enum.DEFAULT.name}).") from e


def cache_path(entry) -> str:
  """Where torchvision keeps (and looks for) the file of a weights entry."""
  import torch
  filename = os.path.basename(urllib.parse.urlparse(entry.url).path)
  return os.path.join(torch.hub.get_dir(), "checkpoints", filename)


def load_pth(path: str) -> dict:
  """A state_dict file (a bare one, or a {"state_dict": ...} one) as numpy arrays."""
  try:
    import torch
  except ImportError as e:
    raise UserError("Reading .pth files needs torch: make torch (pip install -e "
                    "'.[torch]').") from e
  if not os.path.exists(path):
    raise UserError(f"No such file: {path}.")
  try:
    state = torch.load(path, map_location="cpu", weights_only=True)
  except Exception as e:  # torch raises several kinds for a damaged or foreign file.
    raise UserError(f"{path} cannot be read as a PyTorch state_dict "
                    f"({type(e).__name__}: {' '.join(str(e).split())[:200]}).") from e
  if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
    state = state["state_dict"]
  return {k: v.numpy() for k, v in state.items()}


def _download(entry, path: str) -> None:
  import torch
  os.makedirs(os.path.dirname(path), exist_ok=True)
  previous = socket.getdefaulttimeout()
  socket.setdefaulttimeout(_DOWNLOAD_TIMEOUT)
  try:
    # What torchvision's entry.get_state_dict() does, checking the file's hash prefix.
    torch.hub.download_url_to_file(entry.url, path, hash_prefix=_hash_prefix(path),
                                   progress=True)
  finally:
    socket.setdefaulttimeout(previous)


def _hash_prefix(path: str) -> str | None:
  # torch.hub's convention: name-<first digits of the SHA-256>.pth.
  stem = os.path.splitext(os.path.basename(path))[0]
  digits = stem.rsplit("-", 1)[-1] if "-" in stem else ""
  return digits if len(digits) >= 8 and all(c in "0123456789abcdef" for c in digits) else None


def load(spec: str, download: bool = True) -> tuple[str, str, dict, str]:
  """(arch, weights name, state_dict, file path) of ``spec`` ("torchvision:resnet50" or
  "torchvision:resnet50.IMAGENET1K_V1"), from the hub cache or downloaded into it."""
  arch, weights = parse(spec)
  entry = weights_entry(arch, weights)
  path = cache_path(entry)
  if not os.path.exists(path):
    reason = "downloading is off"
    if download:
      try:
        _download(entry, path)
      # No network, a refused or cut connection, a timeout (OSError); a wrong hash
      # (RuntimeError).
      except (OSError, RuntimeError, ValueError) as e:
        reason = f"downloading {entry.url} failed ({type(e).__name__}: " \
                 f"{' '.join(str(e).split())[:200]})"
    if not os.path.exists(path):
      raise UserError(
          f"The torchvision weights {arch}.{entry.name} are not in torch's hub cache: "
          f"expected the file {os.path.basename(path)} at {path}, and {reason}. Fetch "
          f"{entry.url} where there is network and copy it to {os.path.dirname(path)} (or set "
          "TORCH_HOME to a folder whose hub/checkpoints/ holds it), then run the command "
          "again; or convert a local file with python -m jaxcnn.tools.convert --pth=FILE.")
  return arch, entry.name, load_pth(path), path
