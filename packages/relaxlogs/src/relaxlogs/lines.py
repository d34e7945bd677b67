"""Turning the byte stream of stdin into complete output lines.

`Splitter.feed(data, prefix)` returns the complete lines seen so far (a list of pieces), each
ending in "\\n", a "\\r" before the "\\n" removed, each line preceded by `prefix` (b"" for none).
The incomplete tail is kept (as a list of pieces: no limit on line length, no quadratic copying)
until its newline arrives, or until `finish()` at EOF, which adds the missing newline.
With `max_line` > 0 a line longer than that is cut into pieces of `max_line` bytes, each written
as a line of its own (nothing is dropped).
"""


class Splitter:
    def __init__(self, max_line: int = 0):
        self.max_line = max_line
        self.partial: list[bytes] = []
        self.partial_len = 0
        self.split_lines = 0      # lines that were cut at max_line (each counted once)
        self.cutting = False      # the unfinished line was already cut (and counted)

    def feed(self, data: bytes, prefix: bytes = b"") -> list:
        """Complete lines as a list of bytes-like pieces (memoryviews of `data` where no copy is
        needed: the common case of plain LF lines is written without copying)."""
        idx = data.rfind(b"\n")
        if idx < 0:
            self.partial.append(data)
            self.partial_len += len(data)
            if self.max_line and self.partial_len > self.max_line + 1:
                return [self._cut_partial(prefix)]
            return []
        end = idx + 1
        pieces: list = []
        start = 0
        counted = False
        if self.partial:
            first = data.find(b"\n")
            self.partial.append(data[: first + 1])
            pieces.append(b"".join(self.partial))
            self.partial, self.partial_len = [], 0
            start = first + 1
            counted, self.cutting = self.cutting, False
        if start < end:
            pieces.append(data if start == 0 and end == len(data) else memoryview(data)[start:end])
        if end < len(data):
            rest = data[end:]
            self.partial.append(rest)
            self.partial_len = len(rest)
        has_cr = data.find(b"\r", start, end) >= 0 or (start > 0 and b"\r" in pieces[0])
        if prefix and pieces and not has_cr and not self.max_line:
            # "A\nB\nC\n" + tail -> "P A\nP B\nP C\n": one replace over `data` (the tail has no
            # newline and is left out), without first joining the lines into a copy
            out = data.replace(b"\n", b"\n" + prefix)
            cut = out.rfind(b"\n") + 1
            if start == 0:
                return [prefix, memoryview(out)[:cut]]
            res = [prefix, pieces[0]]        # the finished partial line, then the rest
            if cut > start:
                res.append(memoryview(out)[start:cut])
            return res
        if pieces and (self.max_line or prefix or has_cr):
            head = pieces[0] if len(pieces) == 1 and isinstance(pieces[0], bytes) else b"".join(pieces)
            if has_cr:
                head = head.replace(b"\r\n", b"\n")
            if self.max_line and len(head) > self.max_line + 1:
                head = self._cut_lines(head, counted)
            if prefix:
                # "a\nb\n" -> "a\nP b\nP ": write P, then all but the last P (no extra copy)
                out = head.replace(b"\n", b"\n" + prefix)
                pieces = [prefix, memoryview(out)[: len(out) - len(prefix)]]
            else:
                pieces = [head]
        if self.max_line and self.partial_len > self.max_line + 1:
            pieces.append(self._cut_partial(prefix))
        return pieces

    def _cut_lines(self, head: bytes, first_counted: bool = False) -> bytes:
        """Cut the lines of `head` longer than max_line; `first_counted`: the first line was
        already cut while unfinished (_cut_partial counted it): not counted again."""
        n = self.max_line
        lines = head[:-1].split(b"\n")
        if max(map(len, lines)) <= n:
            return head
        out = []
        for k, line in enumerate(lines):
            if len(line) <= n:
                out.append(line)
            else:
                if k or not first_counted:
                    self.split_lines += 1
                out.extend(line[i:i + n] for i in range(0, len(line), n))
        return b"\n".join(out) + b"\n"

    def _cut_partial(self, prefix: bytes) -> bytes:
        """The unfinished line is already longer than max_line: emit its full pieces now."""
        n = self.max_line
        buf = b"".join(self.partial)
        cut = (len(buf) - 2) // n * n   # keep two bytes back: a "\r" may still end the line
        pieces = [buf[i:i + n] for i in range(0, cut, n)]
        rest = buf[cut:]
        self.partial, self.partial_len = ([rest], len(rest)) if rest else ([], 0)
        if pieces and not self.cutting:
            self.split_lines += 1       # once per line, however many reads it spans
            self.cutting = True
        return b"".join(prefix + p + b"\n" for p in pieces)

    def finish(self, prefix: bytes = b"") -> bytes:
        """At EOF: the last line without its newline gets one."""
        if not self.partial:
            return b""
        line = b"".join(self.partial)
        self.partial, self.partial_len = [], 0
        counted, self.cutting = self.cutting, False
        if line.endswith(b"\r"):
            line = line[:-1]
        out = line + b"\n"
        if self.max_line and len(out) > self.max_line + 1:
            out = self._cut_lines(out, counted)
        if prefix:
            out = prefix + out[:-1].replace(b"\n", b"\n" + prefix) + b"\n"
        return out
