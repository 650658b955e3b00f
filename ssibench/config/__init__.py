"""A run's config: the schemas of the config groups, their checks, Hydra's context and resolvers."""


def register() -> None:
    """What Hydra needs before a config of this project is composed: the schemas of the config groups
    (Hydra's ConfigStore) and the resolvers the configs use (OmegaConf)."""
    from ssibench.config import resolvers, schema

    schema.register()
    resolvers.register()
