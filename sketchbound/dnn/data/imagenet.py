"""ImageNet (paper §7) as class folders decoded with Pillow (an optional dependency): :class:`ImageFolder`,
:func:`load_imagenet`, the ImageNet channel statistics, and :func:`pil_image`, the one import of Pillow
(Tiny-ImageNet's decoding in :mod:`sketchbound.dnn.data.datasets` uses it too). Nothing is downloaded.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sketchbound.data import candidate_roots, missing_error

# pil_image serves the Tiny-ImageNet reader too: importable, not part of the API
__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "ImageFolder", "load_imagenet"]


def pil_image():
    """Pillow's ``Image`` module, or ``ImportError`` saying how to install it (an optional dependency)."""
    try:
        from PIL import Image
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("decoding Tiny-ImageNet/ImageNet images needs Pillow: pip install pillow") from e
    return Image


#: channel statistics of ImageNet (for :func:`~sketchbound.dnn.data.augment.normalize`)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_IMG_EXT = {".jpeg", ".jpg", ".png", ".bmp", ".webp"}


class ImageFolder(torch.utils.data.Dataset):
    """Class-folder image dataset (``root/<class>/*.JPEG``) decoded with Pillow, for ImageNet (§7).

    Training transform: random-resized crop (scale 0.08–1, ratio 3/4–4/3) to ``size`` and horizontal
    flip; evaluation: resize the short side to ``size*8/7`` and centre-crop ``size``. Returns
    ``uint8`` ``(3, size, size)`` tensors; normalise on the device with :func:`normalize` and
    :data:`IMAGENET_MEAN`/:data:`IMAGENET_STD`. Randomness comes from ``numpy`` seeded per item by
    ``(seed, epoch, index)`` so a worker pool gives reproducible crops (call :meth:`set_epoch`).

    Parameters
    ----------
    root : str or os.PathLike
        The split's folder of class folders.
    train : bool
        Training transform (random crop and flip) or evaluation transform (centre crop).
    size : int, default 224
        Side of the returned images.
    seed : int, default 0
        Seeds the training crops (with the epoch and the index).

    Examples
    --------
    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     os.makedirs(os.path.join(d, "cat")); os.makedirs(os.path.join(d, "dog"))
    ...     ImageFolder(d, train=True).classes
    ['cat', 'dog']
    """

    def __init__(self, root, train: bool, size: int = 224, seed: int = 0):
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"imagenet: folder {root} not found; expected <root>/<class>/*.JPEG")
        self.classes = sorted(p.name for p in root.iterdir() if p.is_dir())
        if not self.classes:
            raise FileNotFoundError(f"imagenet: no class folders in {root}")
        self.samples = [(f, i) for i, c in enumerate(self.classes) for f in sorted((root / c).iterdir())
                        if f.suffix.lower() in _IMG_EXT]
        self.train, self.size, self.seed, self.epoch = train, size, seed, 0
        self.num_classes = len(self.classes)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i):
        Image = pil_image()
        path, label = self.samples[i]
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            if self.train:
                rng = np.random.default_rng([self.seed, self.epoch, i])
                for _ in range(10):
                    area = w * h * rng.uniform(0.08, 1.0)
                    ar = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
                    cw, ch = int(round(np.sqrt(area * ar))), int(round(np.sqrt(area / ar)))
                    if 0 < cw <= w and 0 < ch <= h:
                        x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
                        break
                else:
                    cw = ch = min(w, h)
                    x0, y0 = (w - cw) // 2, (h - ch) // 2
                im = im.resize((self.size, self.size), Image.BILINEAR, box=(x0, y0, x0 + cw, y0 + ch))
                if rng.random() < 0.5:
                    im = im.transpose(Image.FLIP_LEFT_RIGHT)
            else:
                short = int(round(self.size * 8 / 7))
                s = short / min(w, h)
                im = im.resize((max(short, int(round(w * s))), max(short, int(round(h * s)))), Image.BILINEAR)
                w, h = im.size
                x0, y0 = (w - self.size) // 2, (h - self.size) // 2
                im = im.crop((x0, y0, x0 + self.size, y0 + self.size))
            arr = np.asarray(im, dtype=np.uint8).transpose(2, 0, 1).copy()
        return torch.from_numpy(arr), label


def load_imagenet(root=None, size: int = 224, seed: int = 0) -> tuple[ImageFolder, ImageFolder]:
    """ImageNet ``(train, val)`` :class:`ImageFolder` pair from ``root/train`` and ``root/val``.

    Parameters
    ----------
    root : str or os.PathLike, optional
        Folder holding ``train/<class>/*`` and ``val/<class>/*``; default: the search of
        :func:`sketchbound.data.candidate_roots`.
    size : int, default 224
        Side of the returned images.
    seed : int, default 0
        Seeds the training crops.

    Returns
    -------
    (ImageFolder, ImageFolder)
        The training and validation sets.

    Examples
    --------
    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     for split in ("train", "val"): os.makedirs(os.path.join(d, split, "n01440764"))
    ...     train, val = load_imagenet(d)
    >>> train.num_classes, train.train, val.train
    (1, True, False)
    """
    roots = candidate_roots("imagenet", root)
    for r in roots:
        if (r / "train").is_dir() and (r / "val").is_dir():
            return ImageFolder(r / "train", True, size, seed), ImageFolder(r / "val", False, size, seed)
    raise missing_error("imagenet", roots, "train/<class>/*.JPEG and val/<class>/*.JPEG")
