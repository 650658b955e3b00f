"""Running on clusters and GPU nodes: SLURM jobs, GPU slots, what a job was given."""
