-- A small Neovim client for rumor's editor protocol (teamtype's), used by
-- tests/program_editor_nvim.rs. For daily use, configure teamtype's own
-- Neovim plugin instead (README: "Use your own editor").
--
-- It starts `rumor client` with vim.lsp.rpc (JSON-RPC, LSP framing),
-- opens the buffer's file, sends every change of the buffer as whole
-- lines replaced, and applies rumor's edits when their revision is the
-- editor's own count (ignoring stale ones, which rumor sends again).
-- Limits: the buffer's text is its lines each ending in "\n" ('eol'); a
-- CRLF file ('fileformat' dos) works because rumor then sends no "\r".

local M = {}

local function text_of(lines)
  if #lines == 0 then
    return ""
  end
  return table.concat(lines, "\n") .. "\n"
end

-- Byte column of character `ch` (Unicode scalar values) in `line`.
local function byte_col(line, ch)
  local n = vim.str_utfindex(line, "utf-32")
  if ch >= n then
    return #line
  end
  return vim.str_byteindex(line, "utf-32", ch, false)
end

function M.attach(buf, cmd)
  cmd = cmd or { "rumor", "client" }
  local state = {
    buf = buf,
    uri = vim.uri_from_bufnr(buf),
    editor_revision = 0,
    daemon_revision = 0,
    applying = false,
    ready = false,
    lines = vim.api.nvim_buf_get_lines(buf, 0, -1, true),
    errors = {},
  }
  M.state = state

  local function apply_delta(delta)
    -- Last range first, so earlier positions stay right.
    table.sort(delta, function(a, b)
      local x, y = a.range.start, b.range.start
      return x.line > y.line or (x.line == y.line and x.character > y.character)
    end)
    state.applying = true
    for _, r in ipairs(delta) do
      local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, true)
      local n = #lines
      local s, e, text = r.range.start, r.range["end"], r.replacement
      -- A position on the line after the last (after the final "\n") is
      -- the end of the last line, the final "\n" being kept.
      if e.line >= n then
        if text:sub(-1) == "\n" then
          text = text:sub(1, -2)
        end
        if s.line >= n then
          text = "\n" .. text
          s = { line = n - 1, character = vim.str_utfindex(lines[n], "utf-32") }
        end
        e = { line = n - 1, character = vim.str_utfindex(lines[n], "utf-32") }
      end
      local sc = byte_col(lines[s.line + 1], s.character)
      local ec = byte_col(lines[e.line + 1], e.character)
      vim.api.nvim_buf_set_text(buf, s.line, sc, e.line, ec, vim.split(text, "\n", { plain = true }))
    end
    state.lines = vim.api.nvim_buf_get_lines(buf, 0, -1, true)
    state.applying = false
  end

  local dispatchers = {
    notification = function(method, params)
      if method == "edit" and params.revision == state.editor_revision then
        apply_delta(params.delta)
        state.daemon_revision = state.daemon_revision + 1
      end
    end,
    server_request = function()
      return nil, { code = -32601, message = "no requests" }
    end,
  }
  state.rpc = vim.lsp.rpc.start(cmd, dispatchers, { cwd = vim.fn.getcwd() })

  vim.api.nvim_buf_attach(buf, false, {
    on_lines = function(_, _, _, first, last, new_last)
      if state.applying or not state.ready then
        return
      end
      local new = vim.api.nvim_buf_get_lines(buf, first, new_last, true)
      local replacement = text_of(new)
      local delta = {
        {
          range = { start = { line = first, character = 0 }, ["end"] = { line = last, character = 0 } },
          replacement = replacement,
        },
      }
      state.lines = vim.api.nvim_buf_get_lines(buf, 0, -1, true)
      state.editor_revision = state.editor_revision + 1
      state.rpc.request(
        "edit",
        { uri = state.uri, revision = state.daemon_revision, delta = delta },
        function(err)
          if err then
            table.insert(state.errors, vim.inspect(err))
          end
        end
      )
    end,
  })

  state.rpc.request("open", { uri = state.uri, content = text_of(state.lines) }, function(err)
    if err then
      table.insert(state.errors, vim.inspect(err))
    else
      state.ready = true
    end
  end)
  return state
end

return M
