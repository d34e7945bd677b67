__version__ = "0.1.0"


def handler(event, context=None):
    """The Lambda handler (`gh_team_join.handler`): see gh_team_join/function.py."""
    from gh_team_join.function import handler as h

    return h(event, context)
