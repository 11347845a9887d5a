"""Deployers: turn a Python function (and model files) into a deployed Clipper model.

``from clipper_admin.deployers import python as python_deployer`` gives
:func:`~clipper_admin.deployers.python.deploy_python_closure` and
:func:`~clipper_admin.deployers.python.create_endpoint`.
"""
