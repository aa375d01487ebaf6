"""Execution contexts that run TFF learning processes."""

from tff_rec.runtime.inprocess import InProcessContext
from tff_rec.runtime.inprocess import create_inprocess_execution_context
from tff_rec.runtime.inprocess import set_inprocess_execution_context
from tff_rec.runtime.local_cpp import create_local_cpp_execution_context
from tff_rec.runtime.local_cpp import set_local_cpp_execution_context
from tff_rec.runtime.remote import create_remote_execution_context
from tff_rec.runtime.remote import parse_addresses
from tff_rec.runtime.remote import set_remote_execution_context
from tff_rec.runtime.selection import RuntimeType
from tff_rec.runtime.selection import install_runtime
from tff_rec.runtime.worker_processes import shutdown_workers
from tff_rec.runtime.worker_processes import start_worker
from tff_rec.runtime.worker_processes import worker_pids
