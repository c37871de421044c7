"""The trusted executor's channel format: round trips, identity, and what it refuses."""

import pickle

import numpy as np
import pytest

from backprop_course.trusted import wire
from backprop_course.trusted.channel import error_reply, outcome, perform
from backprop_kit.layers import Linear


def _refuse(_obj):
    raise TypeError("no handles in this test")


def _no_handles(tree):
    raise wire.WireError(f"unexpected handle {tree}")


CODEC = wire.Codec(_refuse, _no_handles)


def roundtrip(value, codec=CODEC):
    return codec.loads(codec.dumps(value))


@pytest.mark.parametrize("value", [None, True, 0, -3, 2**70, 1.5, float("inf"), "tëxt", 2 - 1j,
                                   (1, (2.0, "a")), [1, [2]], {"a": 1, (1, 2): [None]},
                                   slice(None), slice(1, -2, 3),
                                   np.float32(2.5), np.int64(-7), np.bool_(True)])
def test_plain_values_round_trip_with_their_types(value):
    back = roundtrip(value)
    assert back == value and type(back) is type(value)


def test_nan_round_trips():
    assert np.isnan(roundtrip(float("nan")))


@pytest.mark.parametrize("dtype", ["f8", "f4", ">f8", "i2", "u1", "?", "c16"])
def test_arrays_round_trip_with_dtype_and_shape(dtype):
    array = (np.arange(12).reshape(3, 4) % 3).astype(dtype)
    back = roundtrip(array[:, ::2])  # a non-contiguous view
    assert back.shape == (3, 2) and back.dtype == array.dtype.newbyteorder("=")
    np.testing.assert_array_equal(back, array[:, ::2])
    assert back.flags.writeable


def test_identity_and_cycles_survive_within_one_message():
    shared = np.ones(3)
    cyclic: list = []
    cyclic.append(cyclic)
    back = roundtrip([shared, shared, cyclic])
    assert back[0] is back[1] and back[2][0] is back[2]


def test_kit_objects_travel_as_class_and_state_and_generators_as_state():
    layer = Linear(3, 2, rng=np.random.default_rng(0))
    rng = np.random.default_rng(5)
    rng.normal()
    back_layer, back_rng = roundtrip((layer, rng))
    assert type(back_layer) is Linear and back_layer is not layer
    np.testing.assert_array_equal(back_layer.params["W"], layer.params["W"])
    assert back_rng.normal() == rng.normal()


def test_experiment_objects_and_named_tuples_travel_as_data():
    from backprop_experiments.clipping import RNNGradients
    from backprop_experiments.speed_of_learning import SpeedOfLearning

    grads = RNNGradients(2.5, {"W": np.eye(2)}, np.arange(3.0))
    back = roundtrip(grads)
    assert type(back) is RNNGradients and back.loss == 2.5
    np.testing.assert_array_equal(back.grads["W"], np.eye(2))
    np.testing.assert_array_equal(back.state_grad_norms, np.arange(3.0))
    result = SpeedOfLearning(**{name: np.ones(2) for name in SpeedOfLearning.__dataclass_fields__})
    assert type(roundtrip(result)) is SpeedOfLearning


def test_a_kit_method_stays_bound_to_the_copy_of_its_layer():
    from backprop_kit.flops import CallCounter

    layer = Linear(3, 2, rng=np.random.default_rng(0))
    layer.forward = CallCounter(layer.forward)
    copy = roundtrip(layer)
    copy.forward(np.ones((1, 3)))
    assert copy.forward.calls == 1 and layer.forward.calls == 0
    assert copy.cache is not None and layer.cache is None  # the copy's own forward ran


def test_numpy_and_kit_functions_travel_by_name():
    from backprop_kit.gradcheck import numerical_gradient

    assert roundtrip((np.sin, np.float32, numerical_gradient, float)) == (
        np.sin, np.float32, numerical_gradient, float)


@pytest.mark.parametrize("value", [np.array([object()], dtype=object), np.array(["a"]),
                                   np.zeros(2, dtype=[("a", "f8")]), object(), print])
def test_objects_without_a_tag_need_a_handle(value):
    with pytest.raises((wire.WireError, TypeError)):
        CODEC.dumps(value)


def test_a_pickle_is_not_a_message():
    with pytest.raises(wire.WireError):
        CODEC.loads(pickle.dumps({"op": "return", "value": 1}))


@pytest.mark.parametrize("header", [
    '{"$": "kit", "path": "os:system", "state": {}}',
    '{"$": "kitref", "path": "subprocess:Popen"}',
    '{"$": "kittuple", "path": "backprop_kit.layers:Linear", "items": []}',
    '{"$": "kittuple", "path": "os:stat_result", "items": []}',
    '{"$": "slice", "items": [1.5, null, null]}',
    '{"$": "method", "self": 1, "func": {"$": "kitref", "path": "backprop_kit.flops:MacCounter"}}',
    '{"$": "array", "dtype": "|O", "shape": [1], "buffer": 0}',
    '{"$": "numpy", "name": "_core"}',
    '{"$": "rng", "state": {"bit_generator": "os"}}',
    '{"$": "nothing"}',
])
def test_decoding_refuses_what_no_encoder_makes(header):
    data = header.encode()
    message = wire._HEAD.pack(len(data), 1) + data + wire._LENGTH.pack(8) + bytes(8)
    with pytest.raises(wire.WireError):
        CODEC.loads(message)


def test_size_caps_refuse_oversized_messages_both_ways():
    small = wire.Codec(_refuse, _no_handles, max_buffer_bytes=1000)
    with pytest.raises(wire.WireError, match="more than 1000 bytes"):
        small.dumps(np.zeros(200))
    with pytest.raises(wire.WireError, match="more than 1000 bytes"):
        small.loads(CODEC.dumps(np.zeros(200)))
    with pytest.raises(wire.WireError, match="cut short"):
        CODEC.loads(CODEC.dumps(np.zeros(3))[:-1])


def test_write_back_updates_arguments_in_place():
    params = {"W": np.zeros((2, 3)), "b": np.zeros(3)}
    layers = [Linear(3, 2, rng=np.random.default_rng(0))]
    W = params["W"]
    fresh_params, fresh_layers = roundtrip((params, layers))
    fresh_params["W"] += 1.0
    fresh_params["new"] = 5
    fresh_layers[0].params["W"][0, 0] = 42.0
    wire.write_back(params, fresh_params)
    wire.write_back(layers, fresh_layers)
    assert params["W"] is W and W.sum() == 6 and params["new"] == 5
    assert layers[0].params["W"][0, 0] == 42.0


def test_errors_cross_as_builtin_types_with_where_they_were_raised():
    class StudentError(ValueError):
        pass

    def student():
        raise StudentError("bad shape")

    try:
        student()
    except StudentError as error:
        reply = roundtrip(error_reply(error))
    with pytest.raises(ValueError, match="StudentError: bad shape") as caught:
        outcome(reply, (), {})
    assert type(caught.value) is ValueError and "raised in student" in caught.value.raised_in


def _pair():
    """(trusted, server): the two ends' codecs, numbering what they send and receive."""
    return tuple(wire.Codec(_refuse, _no_handles, track_identity=True) for _ in range(2))


def test_an_object_sent_back_is_the_senders_own_updated_in_place():
    trusted, server = _pair()
    params = {"W": np.zeros((2, 3))}
    grads = [np.ones(3)]
    W = params["W"]
    copy_params, copy_grads = server.loads(trusted.dumps((params, grads)))
    assert copy_params is not params
    copy_params["W"][1, 2] = 7.0
    copy_params["b"] = 1.5
    made_there = {"new": 1}
    back = trusted.loads(server.dumps([copy_params, copy_grads[0], made_there, copy_params]))
    assert back[0] is params and back[3] is params and back[1] is grads[0]
    assert params["W"] is W and W[1, 2] == 7.0 and params["b"] == 1.5
    assert back[2] == made_there and back[2] is not made_there


def test_a_copy_received_twice_in_one_exchange_is_one_object_until_forget():
    trusted, server = _pair()
    params = {"W": np.zeros(2)}
    first = server.loads(trusted.dumps(params))
    params["W"][0] = 3.0
    second = server.loads(trusted.dumps(params))
    assert second is first and first["W"][0] == 3.0
    for codec in (trusted, server):
        codec.forget()
    assert server.loads(trusted.dumps(params)) is not first
    assert trusted.loads(server.dumps(first)) is not params


def test_identity_is_not_tracked_unless_asked():
    params = {"W": np.zeros(2)}
    assert roundtrip(roundtrip(params)) is not params


def test_an_attribute_rebound_by_the_callee_is_rebound_not_overwritten_in_place():
    """A kit RNN's ``last_state`` is a new array after every forward: a caller that kept the
    previous one (``state = rnn.last_state``) must still hold the previous values, as in one
    process (truncated BPTT carries exactly that state into the next window)."""
    from backprop_kit.layers import RNN

    trusted, server = _pair()
    rnn = RNN(2, 3, rng=np.random.default_rng(0))
    rnn.forward(np.ones((1, 2, 2)))
    kept = rnn.last_state
    before = kept.copy()
    copy = server.loads(trusted.dumps(rnn))
    copy.forward(np.full((1, 2, 2), -1.0))
    assert trusted.loads(server.dumps(copy)) is rnn
    assert rnn.last_state is not kept and np.array_equal(kept, before)
    assert not np.array_equal(rnn.last_state, before)


def test_what_the_caller_changed_during_the_call_is_kept_where_the_callee_left_it_alone():
    """A layer wrapped by a monitor: the callee calls back into the caller, whose layer caches
    during the call; the callee's copy never saw that cache, so writing it back would erase it."""
    from backprop_kit.layers import Tanh

    caller, callee = _pair()
    layer = Tanh()
    copy = callee.loads(caller.dumps(layer))
    layer.forward(np.ones((2, 3)))  # the call back, on the caller's side, during the call
    copy.training = False           # what the callee itself changed
    assert caller.loads(callee.dumps(copy)) is layer
    assert layer.cache is not None and layer.training is False


def test_a_generator_passed_by_keyword_comes_back_with_the_draws_made_on_the_other_side():
    """A kit layer built with ``rng=`` on the other side of the channel (its __init__
    forwarded) must leave the caller's generator where a local call would."""
    caller, callee = _pair()
    rng, local = np.random.default_rng(5), np.random.default_rng(5)
    local.normal(size=3)
    kwargs = {"rng": rng}
    there = callee.loads(caller.dumps({"args": (3,), "kwargs": kwargs}))
    reply = perform(lambda size, *, rng: rng.normal(size=size), there["args"], there["kwargs"])
    outcome(caller.loads(callee.dumps(reply)), (3,), kwargs)
    assert rng.normal() == local.normal()
