"""The few Hadoop FileSystem calls the jobs make from the driver (through the session's JVM), on any
Hadoop-supported URI (hdfs://, file://). Paths are plain strings; a path with a space, '%', '#' or brackets is
taken literally (Hadoop's Path, not a glob)."""

from __future__ import annotations

from pyspark.sql import SparkSession


def jvm_class(spark: SparkSession, name: str):
    """A JVM class by its full name, for calls from Python. Looked up whole: py4j resolves ``jvm.org.apache.x.Y``
    one name at a time, and every prefix that is not a class ("org", "org.apache", ...) is a failed class lookup
    against each of pyspark's imports, each a search of every jar on the driver's classpath (a millisecond or
    more per call; JVM CPU that a micro-batch's driver calls paid over and over)."""
    return getattr(spark.sparkContext._jvm, name)


class HadoopFs:
    def __init__(self, spark: SparkSession, any_path: str):
        self._path = jvm_class(spark, "org.apache.hadoop.fs.Path")
        self._io_utils = jvm_class(spark, "org.apache.commons.io.IOUtils")
        conf = spark.sparkContext._jsc.hadoopConfiguration()
        self._fs = self._path(any_path).getFileSystem(conf)

    def exists(self, path: str) -> bool:
        return bool(self._fs.exists(self._path(path)))

    def modification_time(self, path: str) -> float | None:
        """The file's modification time (epoch seconds); None when there is no such file."""
        try:
            return int(self._fs.getFileStatus(self._path(path)).getModificationTime()) / 1000
        except Exception as exc:  # FileNotFoundException comes back as a Py4JJavaError
            if "FileNotFoundException" in str(exc):
                return None
            raise

    def read_text(self, path: str) -> str | None:
        """The file's text; None when there is no such file."""
        if not self.exists(path):
            return None
        stream = self._fs.open(self._path(path))
        try:
            return self._io_utils.toString(stream, "UTF-8")
        finally:
            stream.close()

    def _write(self, path: str, text: str, overwrite: bool) -> None:
        out = self._fs.create(self._path(path), overwrite)
        try:
            out.write(bytearray(text.encode("utf-8")))
        finally:
            out.close()

    def create_new(self, path: str, text: str) -> bool:
        """Write the file unless it exists (atomically on HDFS: one of two racing writers wins); True if written."""
        try:
            self._write(path, text, overwrite=False)
            return True
        except Exception as exc:  # FileAlreadyExistsException comes back as a Py4JJavaError
            if "FileAlreadyExistsException" in str(exc) or self.exists(path):
                return False
            raise

    def write_atomic(self, path: str, text: str) -> None:
        """Write a temporary file next to ``path``, then rename it to ``path`` (which must not exist)."""
        parent, name = path.rsplit("/", 1)
        tmp = f"{parent}/.{name}.tmp"
        self._write(tmp, text, overwrite=True)
        if not self._fs.rename(self._path(tmp), self._path(path)):
            raise OSError(f"could not rename {tmp} to {path} (does {path} exist?)")

    def mkdirs(self, path: str) -> None:
        self._fs.mkdirs(self._path(path))

    def rename(self, src: str, dst: str) -> None:
        if not self._fs.rename(self._path(src), self._path(dst)):
            raise OSError(f"could not rename {src} to {dst}")

    def delete(self, path: str, recursive: bool = False) -> None:
        self._fs.delete(self._path(path), recursive)

    def list(self, directory: str) -> list[tuple[str, bool, int]]:
        """(name, is_dir, bytes) of each entry of ``directory``; empty when it does not exist."""
        if not self.exists(directory):
            return []
        return [
            (status.getPath().getName(), bool(status.isDirectory()), int(status.getLen()))
            for status in self._fs.listStatus(self._path(directory))
        ]
