"""Images (MNI152 template, fastMRI), train/test splits and the measurement cache."""
