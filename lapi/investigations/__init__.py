"""Investigation tools for analysts (issue 12): retroactive hits, stakeout, candidate search,
locate, case export and shared watchlists.

Each module keeps its pure logic apart from its store queries; the HTTP routes are in
:mod:`lapi.api.investigation_routes`, the CLI in :mod:`lapi.cli_investigations`.
"""
