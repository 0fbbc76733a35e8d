"""The IDX reader of the dnn stages is the core's torch-free one (:mod:`sketchbound.idx`), re-exported here."""
from sketchbound.idx import IDX_FILES, find_idx_dir, read_idx, read_idx_split

__all__ = ["read_idx", "find_idx_dir", "read_idx_split", "IDX_FILES"]
