"""The pipeline every front end calls: read a spec, build it (validate, compile, emit), render
its Kubernetes objects or inject existing manifests, check them with a real Envoy, and write
them to disk. It imports no front end (cli, pulumi, smi, inspect, local, recording).
"""
