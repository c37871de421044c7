"""Mistakes corpus of notebook 02 (scalar autodiff); see __init__.py for the format."""

from mistakes import Alternative, Mistake

ASSIGNMENT = "02_scalar_autodiff"

MISTAKES = {
    "add_mul": [
        Mistake('''def value_add(self, other):
    other = as_value(other)
    out = Value(self.data + other.data, (self, other), "+")
    def local_backward():
        self.grad = out.grad
        other.grad = out.grad
    out.local_backward = local_backward
    return out

def value_mul(self, other):
    other = as_value(other)
    out = Value(self.data * other.data, (self, other), "*")
    def local_backward():
        self.grad = other.data * out.grad
        other.grad = self.data * out.grad
    out.local_backward = local_backward
    return out

Value.__add__ = Value.__radd__ = value_add
Value.__mul__ = Value.__rmul__ = value_mul
''', phrase="accumulation: in a * a both inputs are the same node", score=3),
        Mistake('''def value_mul(self, other):
    other = as_value(other)
    out = Value(self.data * other.data, (self, other), "*")
    def local_backward():
        # d(ab)/da = b ... I think
        self.grad += self.data * out.grad
        other.grad += other.data * out.grad
    out.local_backward = local_backward
    return out

Value.__mul__ = Value.__rmul__ = value_mul
''', phrase="a.grad should be b.data * out.grad", score=2.5),
        Mistake('''def value_add(self, other):
    out = Value(self.data + other.data, (self, other), "+")
    def local_backward():
        self.grad += out.grad
        other.grad += out.grad
    out.local_backward = local_backward
    return out

Value.__add__ = Value.__radd__ = value_add
''', phrase="raised in value_add", score=3),
        Mistake('''def value_rsub(self, other):
    return self - other

Value.__rsub__ = value_rsub
''', phrase="1 - a is wrong: check value_rsub", score=3),
    ],
    "tanh_exp_pow": [
        Mistake('''def value_tanh(self):
    out = Value(math.tanh(self.data), (self,), "tanh")
    def local_backward():
        self.grad += (1 - self.data ** 2) * out.grad
    out.local_backward = local_backward
    return out

Value.tanh = value_tanh
''', phrase="use out.data, not self.data", score=2),
        Mistake('''def value_tanh(self):
    e = math.exp(2 * self.data)
    out = Value((e - 1) / (e + 1), (self,), "tanh")
    def local_backward():
        self.grad += (1 - out.data ** 2) * out.grad
    out.local_backward = local_backward
    return out

Value.tanh = value_tanh
''', phrase="OverflowError", score=3, hidden_only=True),
        Mistake('''def value_pow(self, exponent):
    if not isinstance(exponent, (int, float)):
        raise TypeError("exponent must be a number")
    out = Value(self.data ** exponent, (self,), f"**{exponent}")
    def local_backward():
        self.grad += exponent * self.data ** exponent - 1 * out.grad
    out.local_backward = local_backward
    return out

Value.__pow__ = value_pow
''', phrase="d x**n/dx = n * x**(n - 1), times out.grad", score=2),
        Mistake('''def value_exp(self):
    out = Value(math.exp(self.data), (self,), "exp")
    def local_backward():
        self.grad += out.data
    out.local_backward = local_backward
    return out

Value.exp = value_exp
''', phrase="exp'(x) = exp(x) = out.data", score=2),
    ],
    "topological_order": [
        Mistake('''def topological_order(root):
    order = []
    def visit(node):
        for child in node.inputs:
            visit(child)
        if node not in order:
            order.append(node)
    visit(root)
    return order
''', phrase="without visited marks the work doubles with every diamond", score=3),
        Mistake('''def topological_order(root):
    order, seen = [], set()
    def visit(node):
        if node in seen:
            return
        seen.add(node)
        order.append(node)
        for child in node.inputs:
            visit(child)
    visit(root)
    return order
''', phrase="append a node only after visiting its inputs", score=0),
        Mistake('''visited = set()

def topological_order(root):
    order = []
    def build(v):
        if v not in visited:
            visited.add(v)
            for child in v.inputs:
                build(child)
            order.append(v)
    build(root)
    return order
''', phrase="a second call must give the same list again", score=3),
        Mistake('''def topological_order(root):
    order = []
    def visit(node):
        for child in node.inputs:
            visit(child)
        order.append(node)
    visit(root)
    return order
''', phrase="mark the visited nodes and skip them", score=0),
    ],
    "backward": [
        Mistake('''def value_backward(self):
    order = topological_order(self)
    for node in order:
        if node.inputs:
            node.grad = 0.0
    self.grad = 1.0
    for node in order:
        node.local_backward()

Value.backward = value_backward
''', phrase="walk the topological order backwards", score=0),
        Mistake('''def value_backward(self):
    self.grad = 1.0
    for node in reversed(topological_order(self)):
        node.local_backward()

Value.backward = value_backward
''', phrase="20 means the interior nodes were not cleared first", score=3),
        Mistake('''def value_zero_grad(self):
    self.grad = 0.0

Value.zero_grad = value_zero_grad
''', phrase="zero_grad must set grad = 0.0 on every node, leaves included", score=2),
        Mistake('''def value_backward(self):
    order = topological_order(self)
    for node in order:
        node.grad = 0.0
    self.grad = 1.0
    for node in reversed(order):
        node.local_backward()

Value.backward = value_backward
''', phrase="a second backward without zero_grad must add 7 more to the leaf x", score=3),
    ],
    "autodiff_gradient": [
        Mistake('''def autodiff_gradient(f, x):
    leaves = [Value(float(v)) for v in x]
    out = f(*leaves)
    out.backward()
    return out.data, [leaf.grad for leaf in leaves]
''', phrase="gradient must be a float64 array of shape (3,)", score=3),
        Mistake('''def autodiff_gradient(f, x):
    leaves = [Value(float(v)) for v in x]
    out = f(*leaves)
    out.grad = 1.0
    out.local_backward()
    return out.data, np.array([leaf.grad for leaf in leaves])
''', phrase="return the leaves' grads after out.backward()", score=2),
        Mistake('''def autodiff_gradient(f, x):
    leaves = [Value(float(v)) for v in x]
    out = f(*leaves)
    out.backward()
    return out, np.array([leaf.grad for leaf in leaves])
''', phrase="value must be a float (out.data), got Value", score=1),
    ],
    "train_step": [
        Mistake('''def train_step(params, loss_fn, learning_rate):
    loss = loss_fn()
    loss.backward()
    for p in params:
        p.data -= learning_rate * p.grad
    return loss.data
''', phrase="call loss.zero_grad() before loss.backward()", score=2),
        Mistake('''def train_step(params, loss_fn, learning_rate):
    loss = loss_fn()
    loss.zero_grad()
    loss.backward()
    for p in params:
        p = p - learning_rate * p.grad
    return loss.data
''', phrase="after one step each p.data must be p.data - learning_rate * p.grad", score=1),
        Mistake('''def train_step(params, loss_fn, learning_rate):
    loss_fn().zero_grad()
    graph = loss_fn()
    graph.backward()
    for param in params:
        param.data = param.data - learning_rate * param.grad
    return loss_fn().data
''', phrase="return the loss computed before the update", score=1),
    ],
}

ALTERNATIVES = {
    "topological_order": [Alternative('''def topological_order(root):
    order, done = [], set()
    stack = [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)
        elif id(node) not in done:
            done.add(id(node))
            stack.append((node, True))
            stack.extend((child, False) for child in reversed(node.inputs))
    return order
''', what="an iterative depth-first search with an explicit stack, marks by id")],
    "add_mul": [Alternative('''def value_sub(self, other):
    return self + other * -1

def value_neg(self):
    return Value(-1.0, label="-1") * self

Value.__sub__ = value_sub
Value.__neg__ = value_neg
''', what="subtraction as a product with -1, negation with the constant first")],
    "autodiff_gradient": [Alternative('''def autodiff_gradient(f, x):
    leaves = list(map(Value, x))
    result = f(*leaves)
    result.backward()
    gradient = np.zeros(len(leaves))
    for i, leaf in enumerate(leaves):
        gradient[i] = leaf.grad
    return result.data, gradient
''', what="numpy float64 entries passed to Value as they are, the gradient filled in a loop")],
}

END_TO_END = [("train_step", 0)]
