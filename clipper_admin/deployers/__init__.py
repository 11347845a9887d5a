"""Deployers: turn a Python function (and model files) into a deployed Clipper model.

``from clipper_admin.deployers import python as python_deployer`` gives
:func:`~clipper_admin.deployers.python.deploy_python_closure` and
:func:`~clipper_admin.deployers.python.create_endpoint`;
``from clipper_admin.deployers import sklearn as sklearn_deployer`` gives
:func:`~clipper_admin.deployers.sklearn.deploy_sklearn_model` and its
``create_endpoint``. :mod:`clipper_admin.deployers.packages` maps deprecated
pip names and fetches wheels on the host for model images.
"""
