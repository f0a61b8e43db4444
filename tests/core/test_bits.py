"""Philox words and per-tensor keys: known answers, an independent Philox, and seekability."""

import hashlib

import numpy as np
import pytest

from service.core.bits import derive_key, philox_words

M64 = (1 << 64) - 1

# Random123 kat_vectors for philox4x64-10: counter words, key words -> output words.
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x16554D9ECA36314C, 0xDB20FE9D672D0FDC, 0xD7E772CEE186176B, 0x7E68B68AEC7BA23B)),
    ((M64,) * 4, (M64, M64), (0x87B092C3013FE90B, 0x438C3C67BE8D0224, 0x9CC7D7C69CD777B6, 0xA09CAEBF594F0BA0)),
    (
        (0x243F6A8885A308D3, 0x13198A2E03707344, 0xA4093822299F31D0, 0x082EFA98EC4E6C89),
        (0x452821E638D01377, 0xBE5466CF34E90C6C),
        (0xA528F45403E61D95, 0x38C72DBD566E9788, 0xA5A1610E72FD18B5, 0x57BD43B5E52B7FE6),
    ),
]


def philox4x64_10(counter: tuple[int, ...], key: tuple[int, int]) -> tuple[int, ...]:
    """Random123 Philox4x64-10 written from the paper, independent of numpy."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for round_ in range(10):
        if round_:
            k0, k1 = (k0 + 0x9E3779B97F4A7C15) & M64, (k1 + 0xBB67AE8584CAA73B) & M64
        p0, p1 = 0xD2E7470EE14C6C93 * c0, 0xCA5A826395121157 * c2
        c0, c1, c2, c3 = (p1 >> 64) ^ c1 ^ k0, p1 & M64, (p0 >> 64) ^ c3 ^ k1, p0 & M64
    return c0, c1, c2, c3


def block_of(counter: tuple[int, ...]) -> int:
    return sum(word << (64 * i) for i, word in enumerate(counter))


@pytest.mark.parametrize(("counter", "key", "expected"), KAT)
def test_numpy_philox_matches_random123_known_answers(counter, key, expected):
    words = philox_words(key[0] | key[1] << 64, 4 * block_of(counter), 4)
    assert [int(w) for w in words] == list(expected)


@pytest.mark.parametrize(("counter", "key", "expected"), KAT)
def test_reference_philox_matches_known_answers(counter, key, expected):
    assert philox4x64_10(counter, key) == expected


def test_cpp26_philox4x64_normative_value():
    # [rand.eng.philox]: the 10000th output of a default-constructed philox4x64 (seed 20111115).
    assert int(philox_words(20111115, 9999, 1)[0]) == 3409172418970261260


@pytest.mark.parametrize("stream", [0, 1, 7])
def test_words_equal_the_independent_philox_at_any_position(stream):
    key = derive_key(5, "layer.weight")
    k = (key & M64, key >> 64)
    for start in (0, 1, 3, 4, 1001, (1 << 40) + 2):
        got = [int(w) for w in philox_words(key, start, 9, stream=stream)]
        expected = []
        for index in range(start, start + 9):
            block = index // 4 + stream * (1 << 128)
            counter = tuple((block >> (64 * i)) & M64 for i in range(4))
            expected.append(philox4x64_10(counter, k)[index % 4])
        assert got == expected


def test_any_slice_of_words_is_the_same_slice_of_the_stream():
    key = derive_key(1, "w")
    whole = philox_words(key, 0, 5000)
    for start, count in [(0, 10), (1, 7), (3, 1000), (4097, 777), (4995, 5)]:
        np.testing.assert_array_equal(philox_words(key, start, count), whole[start : start + count])
    assert philox_words(key, 10, 0).size == 0


def test_key_is_sha256_of_version_seed_and_name():
    message = b"initw-v1\x00" + (2**64 - 1).to_bytes(8, "little") + b"blocks.0.attn.weight"
    expected = int.from_bytes(hashlib.sha256(message).digest()[:16], "little")
    assert derive_key(2**64 - 1, "blocks.0.attn.weight") == expected


def test_keys_differ_by_seed_and_name_and_name_is_utf8():
    keys = {derive_key(s, n) for s in (0, 1, 2**64 - 1) for n in ("weight", "bias", "wéight", "weight ")}
    assert len(keys) == 12
    with pytest.raises(ValueError):
        derive_key(2**64, "weight")
    with pytest.raises(ValueError):
        derive_key(-1, "weight")


def test_key_test_vector_in_the_spec():
    assert derive_key(0, "weight") == 0xB7C8F377D62D38344B69917EE885030E
