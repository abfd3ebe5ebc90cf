"""A small kustomize in Python: renders the kustomizations of deploy/ without a kustomize binary.

It implements what deploy/k8s uses, and refuses anything else (so a new feature in a
kustomization fails loudly here instead of rendering wrong): `resources` (files and
directories), `namespace`, `images`, `patches` (JSON 6902 patch files with a target, or strategic
merge patches of maps), `configMapGenerator` with `files` / `literals`, and `generatorOptions`
(`disableNameSuffixHash: true`, `labels`). When kubectl is installed the tests check that this
renderer and `kubectl kustomize` produce the same objects.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]

SUPPORTED_KEYS = {
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "images",
    "patches",
    "configMapGenerator",
    "generatorOptions",
}

# Kinds without a namespace (of those a kustomization here may contain).
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "IngressClass",
}


class KustomizeError(ValueError):
    """The kustomization uses something this renderer does not implement, or is wrong."""


def load_documents(path: Path) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def render(directory: Path) -> list[Obj]:
    """The objects `kustomize build directory` would output (order not guaranteed)."""
    kustomization_path = directory / "kustomization.yaml"
    if not kustomization_path.exists():
        raise KustomizeError(f"{directory} has no kustomization.yaml")
    spec = yaml.safe_load(kustomization_path.read_text()) or {}
    unknown = set(spec) - SUPPORTED_KEYS
    if unknown:
        raise KustomizeError(f"{kustomization_path}: unsupported fields {sorted(unknown)}")

    objects: list[Obj] = []
    for entry in spec.get("resources", []):
        target = (directory / entry).resolve()
        if target.is_dir():
            objects.extend(render(target))
        elif target.is_file():
            objects.extend(load_documents(target))
        else:
            raise KustomizeError(f"{kustomization_path}: resource {entry} does not exist")

    objects.extend(_generate_config_maps(directory, spec))

    for patch in spec.get("patches", []):
        _apply_patch(directory, patch, objects)

    namespace = spec.get("namespace")
    if namespace:
        for obj in objects:
            if obj.get("kind") not in CLUSTER_SCOPED:
                obj.setdefault("metadata", {})["namespace"] = namespace

    for image in spec.get("images", []):
        _apply_image(image, objects)
    return objects


def _generate_config_maps(directory: Path, spec: Obj) -> list[Obj]:
    options = spec.get("generatorOptions", {})
    unknown_options = set(options) - {"disableNameSuffixHash", "labels"}
    if unknown_options:
        raise KustomizeError(f"unsupported generatorOptions {sorted(unknown_options)}")
    generated = []
    for generator in spec.get("configMapGenerator", []):
        if not options.get("disableNameSuffixHash"):
            raise KustomizeError("configMapGenerator needs disableNameSuffixHash: true here")
        unknown = set(generator) - {"name", "files", "literals"}
        if unknown:
            raise KustomizeError(f"unsupported configMapGenerator fields {sorted(unknown)}")
        data: dict[str, str] = {}
        for entry in generator.get("files", []):
            key, _, source = entry.partition("=")
            file = directory / (source or key)
            data[Path(key).name if not source else key] = file.read_text()
        for literal in generator.get("literals", []):
            key, _, value = literal.partition("=")
            data[key] = value
        metadata: Obj = {"name": generator["name"]}
        if options.get("labels"):
            metadata["labels"] = dict(options["labels"])
        generated.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data})
    return generated


def _matches(obj: Obj, target: Obj) -> bool:
    unknown = set(target) - {"group", "version", "kind", "name"}
    if unknown:
        raise KustomizeError(f"unsupported patch target fields {sorted(unknown)}")
    api_version = str(obj.get("apiVersion", ""))
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    if "group" in target and target["group"] != group:
        return False
    if "version" in target and target["version"] != api_version.rsplit("/", 1)[-1]:
        return False
    if "kind" in target and target["kind"] != obj.get("kind"):
        return False
    return not ("name" in target and target["name"] != obj.get("metadata", {}).get("name"))


def _apply_patch(directory: Path, patch: Obj, objects: list[Obj]) -> None:
    unknown = set(patch) - {"path", "target"}
    if unknown or "path" not in patch:
        raise KustomizeError(f"patches entries need a path (and may have a target): {patch}")
    content = yaml.safe_load((directory / patch["path"]).read_text())
    if isinstance(content, list):
        target = patch.get("target")
        if not target:
            raise KustomizeError(f"JSON 6902 patch {patch['path']} needs a target")
        matched = [obj for obj in objects if _matches(obj, target)]
        if not matched:
            raise KustomizeError(f"patch {patch['path']}: no object matches {target}")
        for obj in matched:
            for op in content:
                _json6902(obj, op)
        return
    if not isinstance(content, dict):
        raise KustomizeError(f"patch {patch['path']} is neither a JSON 6902 list nor an object")
    target = patch.get("target") or {
        "kind": content.get("kind"),
        "name": content.get("metadata", {}).get("name"),
    }
    matched = [obj for obj in objects if _matches(obj, target)]
    if not matched:
        raise KustomizeError(f"patch {patch['path']}: no object matches {target}")
    for obj in matched:
        _merge(obj, {k: v for k, v in content.items() if k not in ("apiVersion", "kind")})


def _merge(base: Obj, patch: Obj) -> None:
    # Strategic merge restricted to maps: lists are not merged by key here, so refuse them.
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        elif isinstance(value, list):
            raise KustomizeError("strategic merge of lists is not implemented: use a JSON 6902 patch")
        elif value is None:
            base.pop(key, None)
        else:
            base[key] = copy.deepcopy(value)


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise KustomizeError(f"JSON pointer {path!r} must start with /")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _json6902(obj: Obj, op: Obj) -> None:
    parts = _pointer(op["path"])
    parent: Any = obj
    for part in parts[:-1]:
        parent = parent[int(part)] if isinstance(parent, list) else parent[part]
    last = parts[-1]
    kind = op["op"]
    if kind in ("add", "replace"):
        value = copy.deepcopy(op["value"])
        if isinstance(parent, list):
            if last == "-":
                parent.append(value)
            elif kind == "add":
                parent.insert(int(last), value)
            else:
                parent[int(last)] = value
        else:
            if kind == "replace" and last not in parent:
                raise KustomizeError(f"replace of missing {op['path']}")
            parent[last] = value
    elif kind == "remove":
        if isinstance(parent, list):
            del parent[int(last)]
        else:
            if last not in parent:
                raise KustomizeError(f"remove of missing {op['path']}")
            del parent[last]
    else:
        raise KustomizeError(f"JSON 6902 op {kind!r} is not implemented")


def _containers(obj: Obj) -> list[Obj]:
    spec = obj.get("spec", {})
    pod = spec.get("template", {}).get("spec", {})
    if obj.get("kind") == "CronJob":
        pod = spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec", {})
    if obj.get("kind") == "Pod":
        pod = spec
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


def _apply_image(image: Obj, objects: list[Obj]) -> None:
    unknown = set(image) - {"name", "newName", "newTag", "digest"}
    if unknown:
        raise KustomizeError(f"unsupported images fields {sorted(unknown)}")
    for obj in objects:
        for container in _containers(obj):
            current = str(container.get("image", ""))
            name, tag = _split_image(current)
            if name != image["name"]:
                continue
            new_name = image.get("newName", name)
            if "digest" in image:
                container["image"] = f"{new_name}@{image['digest']}"
            else:
                new_tag = image.get("newTag", tag)
                container["image"] = f"{new_name}:{new_tag}" if new_tag else new_name


def _split_image(image: str) -> tuple[str, str]:
    if "@" in image:
        return image.split("@", 1)[0], ""
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        name, _, tag = image.rpartition(":")
        return name, tag
    return image, ""


def key(obj: Obj) -> tuple[str, str, str, str]:
    """An object's identity: apiVersion group, kind, namespace, name."""
    metadata = obj.get("metadata", {})
    return (
        str(obj.get("apiVersion", "")).rsplit("/", 1)[0],
        str(obj.get("kind", "")),
        str(metadata.get("namespace", "")),
        str(metadata.get("name", "")),
    )
