"""Tiny hand-written data files shared by the tests of the data loaders."""

from __future__ import annotations

import os
import pathlib
import shutil
import tempfile

import numpy as np
from absl.testing import parameterized

# Raw user ids are numbered numerically: '2' < '7' < '10'.
RECBOLE = {
    "ml-100k.inter": (
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        "10\t5\t4\t881250949\n"
        "2\t5\t3\t881250950\n"
        "7\t9\t1\t881250951\n"
        "2\t30\t5\t881250952\n"
    ),
    "ml-100k.user": (
        "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n"
        "2\t53\tF\tother\t94043\n"
        "7\t24\tM\ttechnician\tT8H1N\n"
        "10\t33\tF\twriter\t32067\n"
        "99\t40\tM\tartist\t11111\n"
    ),
    "ml-100k.item": (
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        "5\tToy Story\t1995\tAnimation Children's Comedy\n"
        "9\tLand Before Time III (1995)\tV\tAnimation\n"
        "30\tunkonwn\tunkonwn\tunknown\n"
    ),
}

ML100K = {
    "u.data": "10\t5\t4\t881250949\n2\t5\t3\t881250950\n7\t9\t1\t881250951\n",
    "u.user": "2|53|F|other|94043\n7|24|M|technician|T8H1N\n10|33|F|writer|32067\n",
    # u.item is Latin-1 in the GroupLens original.
    "u.item": (
        "5|Misérables, Les (1995)|01-Jan-1995||http://x|0|0|1\n"
        "9|Good Morning (1971)||||1|0|0\n"
    ).encode("latin-1"),
    "u.genre": "unknown|0\nAction|1\nDrama|2\n\n",
}

ML1M = {
    "ratings.dat": (
        "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n"
    ),
    "users.dat": "1::F::1::10::48067\n2::M::56::16::70072\n",
    "movies.dat": (
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
        "661::Cérémonie, La (1995)::Drama|Thriller\n"
    ).encode("latin-1"),
}

ML_LATEST = {
    "ratings.csv": (
        "userId,movieId,rating,timestamp\n"
        "1,1,4.0,964982703\n"
        "1,11,3.5,964981247\n"
        "3,1,0.5,1306463578\n"
    ),
    "movies.csv": (
        "movieId,title,genres\n"
        "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n"
        '11,"American President, The (1995)",(no genres listed)\n'
        "12,No Year,Drama\n"
    ),
}

CSV = {
    "events.csv": (
        "user,item,rating,timestamp\nalice,x,5,3\nbob,y,2.5,1\nalice,y,1,2\n"
    ),
}


def write_files(directory: str | os.PathLike, files: dict[str, str | bytes]) -> str:
    """Writes `files` (name -> text, as UTF-8, or bytes) into `directory`."""
    for name, content in files.items():
        path = pathlib.Path(directory, name)
        if isinstance(content, str):
            content = content.encode("utf-8")
        path.write_bytes(content)
    return str(directory)


class LoaderTestCase(parameterized.TestCase):
    """Temporary directories of files and checks of loaded interactions."""

    def make_dir(self, parent: str | None = None, name: str | None = None) -> str:
        """A fresh directory (absltest's create_tempdir needs parsed flags)."""
        if parent is not None:
            path = os.path.join(parent, name)
            os.mkdir(path)
            return path
        path = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, path, ignore_errors=True)
        return path

    def write(self, files: dict[str, str | bytes]) -> str:
        return write_files(self.make_dir(), files)

    def assert_ids_map_back(self, data, raw_users, raw_items):
        self.assertEqual(data.users.dtype, np.int32)
        self.assertEqual(data.items.dtype, np.int32)
        self.assertCountEqual(set(data.users), range(data.num_users))
        self.assertCountEqual(set(data.items), range(data.num_items))
        self.assertEqual([data.user_vocab[u] for u in data.users], raw_users)
        self.assertEqual([data.item_vocab[i] for i in data.items], raw_items)

    def assert_format_error(self, context, file_name, line, problem):
        message = str(context.exception)
        where = file_name if line is None else f"{file_name}:{line}"
        self.assertIn(f"{where}: ", message)
        self.assertIn(problem, message)
        self.assertEqual(context.exception.line, line)
        self.assertEqual(os.path.basename(context.exception.path), file_name)
