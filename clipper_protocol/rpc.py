"""ZeroMQ frames of Clipper's RPC protocol, version 3, byte for byte.

The query frontend binds a ROUTER socket; each model container connects a
DEALER. Every message starts with an empty delimiter frame; integers are
little-endian (``u32`` 4 bytes, ``u64`` 8 bytes); strings travel as raw UTF-8.
The ``encode_*`` functions return frames starting with that delimiter (a
ROUTER prepends the peer identity); the ``decode_*`` functions take frames
starting with it (a ROUTER strips the identity first).

Container to frontend (no version frame):

- heartbeat: ``[b"", u32 2]``
- new container: ``[b"", u32 0, name, version, ascii input-type code, u32 3
  (, proof)]``
- prediction response: ``[b"", u32 1, msg id (4 raw bytes), u64 8*(N+1),
  u64 N + N*u64 output lengths, output_0 ... output_N-1]``

Frontend to container (version frame first):

- heartbeat: ``[b"", u32 3, u32 2, u32 heartbeat type (, nonce)]``
- prediction request: ``[b"", u32 3, u32 1, u32 msg id, u32 0, u64 8*(2+N),
  u64 data type + u64 N + N*u64 input sizes, input_0 ... input_N-1]``

Registration secret (ours, off unless configured): a frontend with a secret
appends a ``nonce`` frame to its request-metadata heartbeats, and a container
with the secret appends ``proof`` = :func:`registration_proof` to its
new-container message. Both frames are optional trailing frames, so either
side without a secret speaks the original protocol unchanged.

The inputs inside a prediction request are packed by the one input-element
codec, :mod:`clipper_protocol.input_types` (``pack_input``/``unpack_inputs``).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import struct
from dataclasses import dataclass, field
from collections.abc import Sequence
from typing import Union

import numpy as np

from clipper_protocol.errors import ClipperError
from clipper_protocol.input_types import Frame as Frame  # re-exported: the frame type of both codecs
from clipper_protocol.input_types import InputType
from clipper_protocol.input_types import unpack_inputs as unpack_inputs  # the element codec, for containers

RPC_VERSION = 3

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_EMPTY = b""


class MessageType(enum.IntEnum):
    NEW_CONTAINER = 0
    CONTAINER_CONTENT = 1
    HEARTBEAT = 2


class HeartbeatType(enum.IntEnum):
    KEEP_ALIVE = 0
    REQUEST_CONTAINER_METADATA = 1


class RequestType(enum.IntEnum):
    PREDICT = 0
    FEEDBACK = 1


class RpcProtocolError(ClipperError, ValueError):
    """Frames that do not form a valid RPC message."""


# A dict lookup rather than MessageType(...): this runs for every message.
_MESSAGE_TYPES = {int(t): t for t in MessageType}


def u32(value: int) -> bytes:
    return _U32.pack(value)


def read_u32(frame: Frame) -> int:
    if len(frame) != 4:
        raise RpcProtocolError(f"expected a 4-byte u32 frame, got {len(frame)} bytes")
    return int(_U32.unpack(frame)[0])


def read_u64(frame: Frame) -> int:
    if len(frame) != 8:
        raise RpcProtocolError(f"expected an 8-byte u64 frame, got {len(frame)} bytes")
    return int(_U64.unpack(frame)[0])


def _read_message_type(frame: Frame) -> MessageType:
    code = read_u32(frame)
    msg_type = _MESSAGE_TYPES.get(code)
    if msg_type is None:
        raise RpcProtocolError(f"unknown message type: {code}")
    return msg_type


# --------------------------------------------------------------------------
# Container -> frontend


@dataclass(frozen=True, slots=True)
class ContainerHeartbeat:
    """A container's heartbeat."""


@dataclass(frozen=True, slots=True)
class NewContainer:
    """A container announcing the model it serves."""

    model_name: str
    model_version: str
    input_type: InputType
    rpc_version: int = RPC_VERSION
    proof: bytes = b""
    """Registration proof (:func:`registration_proof`); empty without a secret."""


@dataclass(frozen=True, slots=True)
class PredictionResponse:
    """A container's outputs for one prediction request, in input order."""

    msg_id: int
    outputs: list[bytes]


ContainerMessage = Union[ContainerHeartbeat, NewContainer, PredictionResponse]


def encode_container_heartbeat() -> list[bytes]:
    return [_EMPTY, u32(MessageType.HEARTBEAT)]


def encode_new_container(msg: NewContainer) -> list[bytes]:
    frames = [
        _EMPTY,
        u32(MessageType.NEW_CONTAINER),
        msg.model_name.encode(),
        msg.model_version.encode(),
        str(int(msg.input_type)).encode("ascii"),
        u32(msg.rpc_version),
    ]
    if msg.proof:
        frames.append(msg.proof)
    return frames


def encode_prediction_response(msg_id: int, outputs: Sequence[bytes]) -> list[bytes]:
    n = len(outputs)
    header = np.empty(n + 1, dtype="<u8")
    header[0] = n
    header[1:] = [len(o) for o in outputs]
    return [
        _EMPTY,
        u32(MessageType.CONTAINER_CONTENT),
        u32(msg_id),
        _U64.pack(8 * (n + 1)),
        header.tobytes(),
        *outputs,
    ]


def decode_container_message(frames: Sequence[Frame]) -> ContainerMessage:
    """Decode frames sent by a container (delimiter first, identity stripped).

    A new-container message whose RPC-version frame is missing decodes with
    ``rpc_version=0`` so the caller can refuse it, as the original does.
    """
    if len(frames) < 2 or len(frames[0]) != 0:
        raise RpcProtocolError("message must start with an empty delimiter frame")
    msg_type = _read_message_type(frames[1])
    if msg_type is MessageType.HEARTBEAT:
        return ContainerHeartbeat()
    if msg_type is MessageType.NEW_CONTAINER:
        if len(frames) < 5:
            raise RpcProtocolError("new-container message needs name, version and input type")
        try:
            code = int(bytes(frames[4]).decode("ascii"))
            input_type = InputType(code)
            name = bytes(frames[2]).decode()
            version = bytes(frames[3]).decode()
        except ValueError as e:
            raise RpcProtocolError(f"bad new-container message: {e}") from None
        rpc_version = read_u32(frames[5]) if len(frames) > 5 else 0
        proof = bytes(frames[6]) if len(frames) > 6 else b""
        return NewContainer(name, version, input_type, rpc_version, proof)
    # Prediction response.
    if len(frames) < 5:
        raise RpcProtocolError("prediction response is missing header frames")
    msg_id = read_u32(frames[2])
    header = np.frombuffer(frames[4], dtype="<u8")
    if header.size < 1 or int(header[0]) != header.size - 1:
        raise RpcProtocolError("prediction response header does not match its output count")
    n = int(header[0])
    outputs = frames[5:]
    if len(outputs) != n:
        raise RpcProtocolError(f"prediction response announces {n} outputs, carries {len(outputs)}")
    return PredictionResponse(msg_id, [bytes(o) for o in outputs])


# --------------------------------------------------------------------------
# Frontend -> container


@dataclass(frozen=True, slots=True)
class FrontendHeartbeat:
    """The frontend's heartbeat; type 1 asks the container to announce itself."""

    heartbeat_type: HeartbeatType
    nonce: bytes = b""
    """Challenge of a frontend with a registration secret; empty otherwise."""


@dataclass(frozen=True, slots=True)
class PredictionRequest:
    """A batch of inputs of one type, each the packed bytes of one input."""

    msg_id: int
    input_type: InputType
    inputs: list[Frame] = field(default_factory=list)


FrontendMessage = Union[FrontendHeartbeat, PredictionRequest]

_VERSION_FRAME = u32(RPC_VERSION)
_HEARTBEAT_FRAMES = {
    t: [_EMPTY, _VERSION_FRAME, u32(MessageType.HEARTBEAT), u32(t)] for t in HeartbeatType
}
_CONTENT_FRAME = u32(MessageType.CONTAINER_CONTENT)
_PREDICT_FRAME = u32(RequestType.PREDICT)


def encode_frontend_heartbeat(heartbeat_type: HeartbeatType, nonce: bytes = b"") -> list[bytes]:
    frames = list(_HEARTBEAT_FRAMES[heartbeat_type])
    if nonce:
        frames.append(nonce)
    return frames


def encode_prediction_request(
    msg_id: int, input_type: InputType, inputs: Sequence[Frame]
) -> list[Frame]:
    n = len(inputs)
    header = np.empty(n + 2, dtype="<u8")
    header[0] = int(input_type)
    header[1] = n
    header[2:] = [len(x) for x in inputs]
    return [
        _EMPTY,
        _VERSION_FRAME,
        _CONTENT_FRAME,
        u32(msg_id),
        _PREDICT_FRAME,
        _U64.pack(8 * (n + 2)),
        header.tobytes(),
        *inputs,
    ]


def decode_frontend_message(frames: Sequence[Frame]) -> FrontendMessage:
    """Decode frames sent by the frontend, as a container receives them."""
    if len(frames) < 3 or len(frames[0]) != 0:
        raise RpcProtocolError("message must start with an empty delimiter and a version frame")
    version = read_u32(frames[1])
    if version != RPC_VERSION:
        raise RpcProtocolError(f"unsupported RPC version {version}; expected {RPC_VERSION}")
    msg_type = _read_message_type(frames[2])
    if msg_type is MessageType.HEARTBEAT:
        if len(frames) < 4:
            raise RpcProtocolError("heartbeat is missing its type frame")
        try:
            nonce = bytes(frames[4]) if len(frames) > 4 else b""
            return FrontendHeartbeat(HeartbeatType(read_u32(frames[3])), nonce)
        except ValueError as e:
            raise RpcProtocolError(f"unknown heartbeat type: {e}") from None
    if msg_type is not MessageType.CONTAINER_CONTENT:
        raise RpcProtocolError("a frontend never sends new-container messages")
    if len(frames) < 7:
        raise RpcProtocolError("prediction request is missing header frames")
    msg_id = read_u32(frames[3])
    request_type = read_u32(frames[4])
    if request_type != RequestType.PREDICT:
        raise RpcProtocolError(f"unsupported request type {request_type}")
    header = np.frombuffer(frames[6], dtype="<u8")
    if header.size < 2:
        raise RpcProtocolError("prediction request header is too short")
    try:
        input_type = InputType(int(header[0]))
    except ValueError:
        raise RpcProtocolError(f"unknown input type code {int(header[0])}") from None
    n = int(header[1])
    inputs = list(frames[7:])
    if len(inputs) != n or header.size != n + 2:
        raise RpcProtocolError(f"prediction request announces {n} inputs, carries {len(inputs)}")
    return PredictionRequest(msg_id, input_type, inputs)


# --------------------------------------------------------------------------
# Registration secret


def registration_proof(
    secret: bytes, nonce: bytes, model_name: str, model_version: str, input_type: InputType
) -> bytes:
    """HMAC-SHA256 proving knowledge of ``secret`` for one announcement.

    It binds the frontend's per-connection ``nonce`` (so a recorded proof is
    useless on another connection) and what the container claims to serve;
    the secret itself never travels.
    """
    message = b"\0".join((
        b"clipper-rpc-register-v1", nonce, model_name.encode(), model_version.encode(),
        str(int(input_type)).encode("ascii"),
    ))
    return hmac.new(secret, message, hashlib.sha256).digest()


def check_registration_proof(secret: bytes, nonce: bytes, msg: NewContainer) -> bool:
    """Whether ``msg`` carries a valid proof for ``secret`` and ``nonce`` (constant time)."""
    expected = registration_proof(secret, nonce, msg.model_name, msg.model_version, msg.input_type)
    return hmac.compare_digest(expected, msg.proof)


# --------------------------------------------------------------------------
# Failed outputs
#
# The wire carries only string outputs, so a container that could not compute
# an output (its model raised, or returned the wrong number of outputs) sends
# this marker followed by the reason. No JSON document or str() of a Python
# value starts with NUL, so it cannot be mistaken for a real output; our query
# frontend answers such queries with the default output and logs the reason.

ERROR_OUTPUT_PREFIX = b"\x00clipper-error\x00"


def encode_error_output(reason: str) -> bytes:
    return ERROR_OUTPUT_PREFIX + reason.encode("utf-8", errors="replace")


#: The reason a stopping container answers a batch it will not run with. The
#: query frontend takes that replica out of rotation and gives the batch to
#: another replica (it is not the model's failure, so no default output).
SHUTTING_DOWN_REASON = "container shutting down"


_SHUTTING_DOWN_OUTPUT = ERROR_OUTPUT_PREFIX + SHUTTING_DOWN_REASON.encode()


def is_shutting_down_response(outputs: Sequence[bytes]) -> bool:
    """Whether a batch's outputs are a stopping container's refusal of the whole batch (checked per batch:
    the first output decides for ordinary answers)."""
    return bool(outputs) and outputs[0] == _SHUTTING_DOWN_OUTPUT and all(o == _SHUTTING_DOWN_OUTPUT for o in outputs)


def parse_error_output(output: bytes) -> str | None:
    """The failure reason if ``output`` is an error marker, else None."""
    if output.startswith(ERROR_OUTPUT_PREFIX):
        return output[len(ERROR_OUTPUT_PREFIX):].decode("utf-8", errors="replace")
    return None
