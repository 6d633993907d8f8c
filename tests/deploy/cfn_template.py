"""Reads deploy/aws/ringws.yaml the way CloudFormation does, far enough for the tests: the YAML
short forms (!Ref, !Sub, !GetAtt, ...), and a resolver for the intrinsic functions the
template uses (Ref, Fn::Sub, Fn::FindInMap, Fn::If, Fn::Equals, Fn::Not, Fn::Split, Fn::Join,
Fn::GetAtt, Fn::Base64, AWS::NoValue), given parameter values and what Ref and GetAtt of a
resource stand for. Used by Debian's python3 (the tests) and by the Python that has moto
(moto_deploy.py), so: standard library and PyYAML only."""

import re
from pathlib import Path

import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "aws" / "ringws.yaml"
NO_VALUE = object()


class _Loader(yaml.SafeLoader):
    pass


def _construct(loader, suffix, node):
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_Loader.add_multi_constructor("!", lambda loader, suffix, node: _construct(loader, suffix, node))


def load(path=TEMPLATE):
    return yaml.load(Path(path).read_text(), Loader=_Loader)


class Resolver:
    """resolve(value) with the template's parameters (defaults, overridden by `params`),
    mappings and conditions. ref(name) and getatt(name, attribute) say what a resource's Ref
    and attributes resolve to (default: "<Name>" and "<Name.Attribute>")."""

    def __init__(self, template, params=None, stack_name="ringws-test", region="us-east-1", ref=None, getatt=None):
        self.t = template
        self.params = {k: v.get("Default") for k, v in template.get("Parameters", {}).items()}
        self.params.update(params or {})
        self.pseudo = {"AWS::StackName": stack_name, "AWS::Region": region, "AWS::Partition": "aws",
                       "AWS::AccountId": "123456789012", "AWS::URLSuffix": "amazonaws.com"}
        self.ref_of = ref or (lambda name: f"<{name}>")
        self.getatt_of = getatt or (lambda name, attr: f"<{name}.{attr}>")
        self.conditions = {}

    def condition(self, name):
        if name not in self.conditions:
            self.conditions[name] = bool(self.resolve(self.t["Conditions"][name]))
        return self.conditions[name]

    def ref(self, name):
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            value = self.params[name]
            ptype = self.t["Parameters"][name]["Type"]
            if ptype.startswith("List<") and isinstance(value, str):
                return value.split(",")
            return value
        if name in self.t.get("Resources", {}):
            return self.ref_of(name)
        raise KeyError(f"Ref to unknown name {name}")

    def sub(self, text, variables):
        def one(m):
            key = m.group(1)
            if key.startswith("!"):
                return "${" + key[1:] + "}"
            if key in variables:
                return str(variables[key])
            if "." in key and key.split(".", 1)[0] in self.t.get("Resources", {}):
                name, attr = key.split(".", 1)
                return str(self.getatt_of(name, attr))
            return str(self.ref(key))

        return re.sub(r"\$\{([^}]*)\}", one, text)

    def resolve(self, v):
        if isinstance(v, list):
            out = [self.resolve(x) for x in v]
            return [x for x in out if x is not NO_VALUE]
        if not isinstance(v, dict):
            return v
        if len(v) == 1:
            (key, arg), = v.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::Sub":
                if isinstance(arg, str):
                    return self.sub(arg, {})
                text, variables = arg
                return self.sub(text, {k: self.resolve(x) for k, x in variables.items()})
            if key == "Fn::FindInMap":
                m, k1, k2 = (self.resolve(x) for x in arg)
                return self.t["Mappings"][m][k1][k2]
            if key == "Fn::If":
                name, yes, no = arg
                return self.resolve(yes if self.condition(name) else no)
            if key == "Fn::Equals":
                a, b = (self.resolve(x) for x in arg)
                return str(a) == str(b)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::Split":
                sep, text = arg
                return self.resolve(text).split(sep)
            if key == "Fn::Join":
                sep, parts = arg
                return sep.join(str(x) for x in self.resolve(parts))
            if key == "Fn::GetAtt":
                name, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.getatt_of(name, attr)
            if key == "Fn::Base64":
                return self.resolve(arg)  # kept as text: the tests read it
            if key == "Condition":
                return self.condition(arg)
        out = {k: self.resolve(x) for k, x in v.items()}
        return {k: x for k, x in out.items() if x is not NO_VALUE}

    def resource(self, name):
        """A resource's Properties, resolved; None when its Condition is false."""
        r = self.t["Resources"][name]
        if "Condition" in r and not self.condition(r["Condition"]):
            return None
        return self.resolve(r.get("Properties", {}))


def resources_of_type(template, rtype):
    return [name for name, r in template["Resources"].items() if r["Type"] == rtype]


def references(value):
    """Every resource name a value refers to (Ref, GetAtt, ${Name} and ${Name.Attr} in Sub)."""
    found = set()
    if isinstance(value, list):
        for x in value:
            found |= references(x)
    elif isinstance(value, dict):
        for k, x in value.items():
            if k == "Ref" and isinstance(x, str):
                found.add(x)
            elif k == "Fn::GetAtt":
                found.add(x[0] if isinstance(x, list) else x.split(".")[0])
            elif k == "Fn::Sub":
                text = x if isinstance(x, str) else x[0]
                found |= {m.split(".")[0] for m in re.findall(r"\$\{([^!}][^}]*)\}", text)}
                if isinstance(x, list):
                    found |= references(x[1])
            else:
                found |= references(x)
    return found
