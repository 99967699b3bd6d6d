/*
 * The HTTP routes of sbxd's extension (routes.h: wire_ext_routes), the
 * second table next to routes.c's real one: same row type, plus the
 * discovery name that announces each row (GET /v1/extensions lists the
 * names of the rows sbxd serves). Request and response types are those of
 * proto/sbxd/ext/v1/extension.proto or, where the extension answers with
 * a real message (the Sandbox, DeleteSandboxResponse), the schema's. A
 * row here is matched only after the real table found none, so a real
 * path can never be shadowed. New calls: one row each, its messages in
 * extension.proto.
 *
 * Raw-byte rows: WriteStdin takes the HTTP body as the bytes
 * (its row says body "" because no JSON is read), ReadOutput answers raw
 * bytes with X-Sbx-* headers (resp NULL). :readFileRange with raw=true and
 * :writeFileAt with Content-Type application/octet-stream are the same
 * calls' raw forms (docs/api.md).
 */
#include "routes.h"

#include "extension.pb-c.h"
#include "sandbox.pb-c.h"

#define PB(x) &coreweave__sandbox__v1__##x##__descriptor
#define EXT(x) &sbxd__ext__v1__##x##__descriptor

const wire_route wire_ext_routes[] = {
	{"GetExtensions", "GET", "/v1/extensions", "", EXT(get_extensions_request), EXT(get_extensions_response),
	 {NULL}, "discovery"},
	{"Wait", "GET", "/v1/sandboxes/{sandbox_id}:wait", "", EXT(wait_request), PB(sandbox), {"sandbox_id"},
	 "wait"},
	{"Forget", "POST", "/v1/sandboxes/{sandbox_id}:forget", "", EXT(forget_request),
	 PB(delete_sandbox_response), {"sandbox_id"}, "forget"},
	/* "processes" */
	{"StartProcess", "POST", "/v1/sandboxes/{sandbox_id}/processes", "*", EXT(start_process_request),
	 EXT(process), {"sandbox_id"}, "processes"},
	{"ListProcesses", "GET", "/v1/sandboxes/{sandbox_id}/processes", "", EXT(list_processes_request),
	 EXT(list_processes_response), {"sandbox_id"}, "processes"},
	{"GetProcess", "GET", "/v1/sandboxes/{sandbox_id}/processes/{process_id}", "", EXT(get_process_request),
	 EXT(process), {"sandbox_id", "process_id"}, "processes"},
	{"WriteStdin", "POST", "/v1/sandboxes/{sandbox_id}/processes/{process_id}/stdin", "",
	 EXT(write_stdin_request), EXT(write_stdin_response), {"sandbox_id", "process_id"}, "processes"},
	{"CloseStdin", "POST", "/v1/sandboxes/{sandbox_id}/processes/{process_id}/stdin:close", "",
	 EXT(close_stdin_request), EXT(close_stdin_response), {"sandbox_id", "process_id"}, "processes"},
	{"SignalProcess", "POST", "/v1/sandboxes/{sandbox_id}/processes/{process_id}:signal", "*",
	 EXT(signal_process_request), EXT(signal_process_response), {"sandbox_id", "process_id"}, "processes"},
	/* "output": raw bytes by offset (resp NULL) */
	{"ReadStdout", "GET", "/v1/sandboxes/{sandbox_id}/stdout", "", EXT(read_output_request), NULL,
	 {"sandbox_id"}, "output"},
	{"ReadStderr", "GET", "/v1/sandboxes/{sandbox_id}/stderr", "", EXT(read_output_request), NULL,
	 {"sandbox_id"}, "output"},
	{"ReadProcessStdout", "GET", "/v1/sandboxes/{sandbox_id}/processes/{process_id}/stdout", "",
	 EXT(read_output_request), NULL, {"sandbox_id", "process_id"}, "output"},
	{"ReadProcessStderr", "GET", "/v1/sandboxes/{sandbox_id}/processes/{process_id}/stderr", "",
	 EXT(read_output_request), NULL, {"sandbox_id", "process_id"}, "output"},
	/* "outputFd": raw (resp NULL), unix socket only; answers 101 + SCM_RIGHTS */
	{"OpenOutput", "GET", "/v1/sandboxes/{sandbox_id}:openOutput", "", EXT(open_output_request), NULL,
	 {"sandbox_id"}, "outputFd"},
	/* "fileFd": raw (resp NULL), unix socket only; answers 101 + SCM_RIGHTS */
	{"OpenFile", "GET", "/v1/sandboxes/{sandbox_id}:openFile", "", EXT(open_file_request), NULL,
	 {"sandbox_id"}, "fileFd"},
	/* "waitProcesses" */
	{"WaitProcesses", "POST", "/v1/sandboxes:waitProcesses", "*", EXT(wait_processes_request),
	 EXT(wait_processes_response), {NULL}, "waitProcesses"},
	/* "files" */
	{"ReadFileRange", "GET", "/v1/sandboxes/{sandbox_id}:readFileRange", "", EXT(read_file_range_request),
	 EXT(read_file_range_response), {"sandbox_id"}, "files"},
	{"WriteFileAt", "POST", "/v1/sandboxes/{sandbox_id}:writeFileAt", "*", EXT(write_file_at_request),
	 EXT(write_file_at_response), {"sandbox_id"}, "files"},
	{"ListDir", "GET", "/v1/sandboxes/{sandbox_id}:listDir", "", EXT(list_dir_request), EXT(list_dir_response),
	 {"sandbox_id"}, "files"},
	{"StatFile", "GET", "/v1/sandboxes/{sandbox_id}:statFile", "", EXT(stat_file_request), EXT(file_entry),
	 {"sandbox_id"}, "files"},
	{"MakeDir", "POST", "/v1/sandboxes/{sandbox_id}:makeDir", "*", EXT(make_dir_request), EXT(make_dir_response),
	 {"sandbox_id"}, "files"},
	{"RemoveFile", "POST", "/v1/sandboxes/{sandbox_id}:removeFile", "*", EXT(remove_file_request),
	 EXT(remove_file_response), {"sandbox_id"}, "files"},
	/* "posix" */
	{"CreateFile", "POST", "/v1/sandboxes/{sandbox_id}:createFile", "*", EXT(create_file_request),
	 EXT(file_entry), {"sandbox_id"}, "posix"},
	{"SetFileAttrs", "POST", "/v1/sandboxes/{sandbox_id}:setFileAttrs", "*", EXT(set_file_attrs_request),
	 EXT(file_entry), {"sandbox_id"}, "posix"},
	{"RenameFile", "POST", "/v1/sandboxes/{sandbox_id}:renameFile", "*", EXT(rename_file_request),
	 EXT(rename_file_response), {"sandbox_id"}, "posix"},
	{"CreateSymlink", "POST", "/v1/sandboxes/{sandbox_id}:createSymlink", "*", EXT(create_symlink_request),
	 EXT(file_entry), {"sandbox_id"}, "posix"},
	{"LinkFile", "POST", "/v1/sandboxes/{sandbox_id}:linkFile", "*", EXT(link_file_request), EXT(file_entry),
	 {"sandbox_id"}, "posix"},
	{"MakeNode", "POST", "/v1/sandboxes/{sandbox_id}:makeNode", "*", EXT(make_node_request), EXT(file_entry),
	 {"sandbox_id"}, "posix"},
	{"ListDirs", "POST", "/v1/sandboxes/{sandbox_id}:listDirs", "*", EXT(list_dirs_request),
	 EXT(list_dirs_response), {"sandbox_id"}, "posix"},
	{"AllocateFile", "POST", "/v1/sandboxes/{sandbox_id}:allocateFile", "*", EXT(allocate_file_request),
	 EXT(file_entry), {"sandbox_id"}, "posix"},
	{"GetXattr", "GET", "/v1/sandboxes/{sandbox_id}:getXattr", "", EXT(get_xattr_request),
	 EXT(get_xattr_response), {"sandbox_id"}, "posix"},
	{"ListXattrs", "GET", "/v1/sandboxes/{sandbox_id}:listXattrs", "", EXT(list_xattrs_request),
	 EXT(list_xattrs_response), {"sandbox_id"}, "posix"},
	{"SetXattr", "POST", "/v1/sandboxes/{sandbox_id}:setXattr", "*", EXT(set_xattr_request),
	 EXT(set_xattr_response), {"sandbox_id"}, "posix"},
	{"RemoveXattr", "POST", "/v1/sandboxes/{sandbox_id}:removeXattr", "*", EXT(remove_xattr_request),
	 EXT(remove_xattr_response), {"sandbox_id"}, "posix"},
	{"StatFileSystem", "GET", "/v1/sandboxes/{sandbox_id}:statFileSystem", "", EXT(stat_file_system_request),
	 EXT(stat_file_system_response), {"sandbox_id"}, "posix"},
	/* "images" */
	{"ListImages", "GET", "/v1/images", "", EXT(list_images_request), EXT(list_images_response), {NULL},
	 "images"},
};
const size_t wire_n_ext_routes = sizeof wire_ext_routes / sizeof wire_ext_routes[0];
